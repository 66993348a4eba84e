//! The embedded local Coordinator: what `seedward` with no `--coordinator` runs on loopback,
//! so that the README's first command works on a laptop.
//!
//! This is the only place the console depends on the daemon crate, and only with the cargo
//! feature `embedded-coordinator` (on by default). A build without it is a pure client: it
//! talks to Coordinators through `--coordinator ADDR` and links none of the daemon.

use std::path::Path;

/// The default port of the local Coordinator; a free port is used when it is taken.
pub const LOCAL_PORT: u16 = 1313;

#[cfg(feature = "embedded-coordinator")]
mod imp {
    use std::net::SocketAddr;
    use std::path::Path;

    use anyhow::Context as _;

    /// A Coordinator running inside this process.
    pub struct LocalCoordinator(seedward_coordinator::RunningServer);

    impl LocalCoordinator {
        pub fn local_addr(&self) -> SocketAddr {
            self.0.local_addr()
        }

        /// Stops accepting, lets in-flight requests finish, and waits.
        pub async fn shutdown(self) -> anyhow::Result<()> {
            self.0.shutdown().await
        }
    }

    /// Starts the embedded Coordinator on 127.0.0.1:1313, or a free port if that is taken.
    pub async fn start(state_dir: &Path) -> anyhow::Result<LocalCoordinator> {
        let preferred = SocketAddr::from(([127, 0, 0, 1], super::LOCAL_PORT));
        let config = seedward_coordinator::ServerConfig::new(preferred, state_dir.to_path_buf());
        match seedward_coordinator::start(config).await {
            Ok(server) => Ok(LocalCoordinator(server)),
            Err(first) => {
                let any = SocketAddr::from(([127, 0, 0, 1], 0));
                let config = seedward_coordinator::ServerConfig::new(any, state_dir.to_path_buf());
                seedward_coordinator::start(config)
                    .await
                    .map(LocalCoordinator)
                    .with_context(|| {
                        format!(
                            "cannot start the local Coordinator with its state in {} (first attempt on {preferred}: {first:#}); pass --coordinator ADDR to use a running one",
                            state_dir.display()
                        )
                    })
            }
        }
    }
}

#[cfg(not(feature = "embedded-coordinator"))]
mod imp {
    use std::net::SocketAddr;
    use std::path::Path;

    /// Never constructed: this build has no embedded Coordinator.
    pub enum LocalCoordinator {}

    impl LocalCoordinator {
        pub fn local_addr(&self) -> SocketAddr {
            match *self {}
        }

        pub async fn shutdown(self) -> anyhow::Result<()> {
            match self {}
        }
    }

    pub async fn start(_state_dir: &Path) -> anyhow::Result<LocalCoordinator> {
        anyhow::bail!(
            "this seedward was built without the embedded Coordinator (cargo feature `embedded-coordinator`); pass --coordinator ADDR to use a running one"
        )
    }
}

pub use imp::LocalCoordinator;

/// Starts the local Coordinator with its state in `state_dir`.
pub async fn start(state_dir: &Path) -> anyhow::Result<LocalCoordinator> {
    imp::start(state_dir).await
}
