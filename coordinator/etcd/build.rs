//! Compiles the vendored etcd v3 API protos (`proto/etcd/api/`, see `proto/README.md`) with a
//! vendored `protoc`, so that building Seedward never needs a system protobuf compiler.
//! Clients only: Seedward never serves the etcd API.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let protos = [
        "proto/etcd/api/etcdserverpb/rpc.proto",
        "proto/etcd/api/mvccpb/kv.proto",
        "proto/etcd/api/authpb/auth.proto",
    ];
    for p in &protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure()
        .build_server(false)
        .compile_with_config(config, &protos, &["proto"])?;
    Ok(())
}
