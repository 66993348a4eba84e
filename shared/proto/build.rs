//! Compiles the versioned protos in `seedward/v1/` with a vendored `protoc`, so that
//! building Seedward never needs a system protobuf compiler.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY-free: build scripts are single-threaded; `PROTOC` is read by prost-build.
    // `set_var` is unsafe in edition 2024 and `unsafe_code` is forbidden, so pass it
    // through the builder instead.
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    let protos = [
        "seedward/v1/user.proto",
        "seedward/v1/workload.proto",
        "seedward/v1/peer.proto",
    ];
    for p in &protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure()
        // The workload secret must never reach a log through `{:?}`: this message gets a
        // hand-written, redacting `Debug` in `src/lib.rs`.
        .skip_debug(["seedward.v1.GetCredentialsResponse"])
        .file_descriptor_set_path(out_dir.join("seedward_descriptor.bin"))
        .compile_with_config(config, &protos, &["."])?;
    Ok(())
}
