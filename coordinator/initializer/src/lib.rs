//! `seedward-initializer`: runs in a workload's pod, fetches its credentials from the
//! Coordinator's workload API and writes them to the shared secrets volume; its
//! `cryptsetup` subcommand turns an untrusted block device into an encrypted volume keyed
//! by the workload secret (docs/WORKLOADS.md).
//!
//! # Files (under the secrets root, default `/seedward`)
//! | path | content | mode |
//! |---|---|---|
//! | `tls-config/mesh-ca.pem` | mesh CA certificate | 0444 |
//! | `tls-config/cert-chain.pem` | leaf then mesh CA | 0444 |
//! | `tls-config/key.pem` | the workload's P-256 key, PKCS#8 PEM | 0600 |
//! | `tls-config/coordinator-root-ca.pem` | root CA certificate | 0444 |
//! | `secrets/workload-secret-seed` | 128 lowercase hex characters, no newline; only when the policy entry has a `WorkloadSecretID` | 0400 |
//!
//! Directories are created 0755. Key and certificates are replaced together when the
//! initializer runs again (a new key each run); the secret file is created with
//! `create_new` and, if it exists already, must hold the same secret.

pub mod cryptsetup;
pub mod evidence;
pub mod files;
pub mod luks;

use std::time::{Duration, Instant};

use seedward_proto::v1 as pb;
use tonic::Code;

use seedward_client::tls::{self as tls_client, Trust};

/// How the initializer reaches the Coordinator and how long it keeps trying.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    pub address: String,
    /// The evidence to present (it binds the key the certificate is asked for).
    pub evidence: pb::WorkloadEvidence,
    pub trust: Trust,
    /// Give up after this long.
    pub max_wait: Duration,
    /// First retry delay; doubles up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

/// Whether a failed request is worth retrying: the Coordinator is unreachable, busy or not
/// ready yet. PermissionDenied (the policy is not in the manifest) and malformed requests
/// are final: retrying cannot fix them.
pub fn is_retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::FailedPrecondition
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Unknown
            | Code::Cancelled
    )
}

fn reason(status: &tonic::Status) -> &'static str {
    seedward_proto::Reason::of(status).map_or("-", seedward_proto::Reason::as_str)
}

/// Requests credentials for `public_key_spki_der`, retrying with exponential backoff, and
/// checks the answer: the chain must be leaf → mesh CA → root CA, the leaf must carry the
/// presented key, and the Coordinator's TLS certificate must be issued by the returned
/// root CA (with a pinned root: the returned root must have the pinned key).
pub async fn fetch_credentials(
    config: &FetchConfig,
    public_key_spki_der: &[u8],
) -> anyhow::Result<pb::GetCredentialsResponse> {
    let started = Instant::now();
    let mut delay = config.initial_backoff;
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let outcome = request_once(config, public_key_spki_der).await;
        let problem = match outcome {
            // A failed check is retried on a new connection: the handshake may have happened
            // while the Coordinator was not ready yet and served its self-signed certificate.
            // An impostor keeps failing until `max_wait`.
            Ok(response) => {
                match check_response(config, &response.0, &response.1, public_key_spki_der) {
                    Ok(()) => {
                        tracing::info!(attempt, "received the workload credentials");
                        return Ok(response.0);
                    }
                    Err(err) => format!("{err:#}"),
                }
            }
            Err(Attempt::Final(err)) => return Err(err),
            Err(Attempt::Retry(problem)) => problem,
        };
        let elapsed = started.elapsed();
        if elapsed + delay > config.max_wait {
            anyhow::bail!(
                "gave up after {attempt} attempts in {}s: {problem}; check that the Coordinator at {} is running and ready (seedward status), then restart the workload",
                elapsed.as_secs(),
                config.address
            );
        }
        tracing::warn!(attempt, retry_in_ms = delay.as_millis() as u64, %problem, "the Coordinator is not serving credentials yet; retrying");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(config.max_backoff);
    }
}

enum Attempt {
    Retry(String),
    Final(anyhow::Error),
}

async fn request_once(
    config: &FetchConfig,
    public_key_spki_der: &[u8],
) -> Result<(pb::GetCredentialsResponse, Option<Vec<u8>>), Attempt> {
    let connection = match tls_client::connect(&config.address, config.trust.clone()).await {
        Ok(c) => c,
        Err(tls_client::ClientError::BadAddress(a)) => {
            return Err(Attempt::Final(anyhow::anyhow!(
                "invalid Coordinator address {a:?}: expected host:port, e.g. seedward-coordinator:1313"
            )));
        }
        Err(e) => return Err(Attempt::Retry(e.to_string())),
    };
    let mut client = pb::workload_api_client::WorkloadApiClient::new(connection.channel.clone());
    let request = pb::GetCredentialsRequest {
        evidence: Some(config.evidence.clone()),
        public_key: public_key_spki_der.to_vec(),
    };
    match client.get_credentials(request).await {
        Ok(response) => Ok((response.into_inner(), connection.observed_leaf())),
        Err(status) if is_retryable(status.code()) => Err(Attempt::Retry(format!(
            "{:?} ({}): {}",
            status.code(),
            reason(&status),
            status.message()
        ))),
        Err(status) => Err(Attempt::Final(anyhow::anyhow!(
            "the Coordinator refused the credentials request with {:?} ({}): {}",
            status.code(),
            reason(&status),
            status.message()
        ))),
    }
}

fn pem_certificates(pem: &str) -> Vec<Vec<u8>> {
    x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes())
        .filter_map(Result::ok)
        .filter(|p| p.label == "CERTIFICATE")
        .map(|p| p.contents)
        .collect()
}

fn check_response(
    config: &FetchConfig,
    response: &pb::GetCredentialsResponse,
    observed_leaf: &Option<Vec<u8>>,
    public_key_spki_der: &[u8],
) -> anyhow::Result<()> {
    let root = tls_client::first_certificate_der(response.root_ca_cert.as_bytes())
        .ok_or_else(|| anyhow::anyhow!("the Coordinator returned no valid root CA certificate"))?;
    let mesh = tls_client::first_certificate_der(response.mesh_ca_cert.as_bytes())
        .ok_or_else(|| anyhow::anyhow!("the Coordinator returned no valid mesh CA certificate"))?;
    let chain = pem_certificates(&response.cert_chain);
    let leaf = chain
        .first()
        .ok_or_else(|| anyhow::anyhow!("the Coordinator returned an empty certificate chain"))?;
    if chain.get(1) != Some(&mesh) {
        anyhow::bail!("the returned certificate chain does not end in the returned mesh CA");
    }
    if !tls_client::signed_by(leaf, &mesh) || !tls_client::signed_by(&mesh, &root) {
        anyhow::bail!(
            "the returned certificates do not chain leaf → mesh CA → root CA; the Coordinator is misbehaving or an impostor"
        );
    }
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf)
        .map_err(|_| anyhow::anyhow!("the returned leaf certificate does not parse"))?;
    if parsed.public_key().raw != public_key_spki_der {
        anyhow::bail!("the returned leaf certificate is not for this workload's key");
    }
    if let Some(secret) = &response.workload_secret
        && secret.len() != 64
    {
        anyhow::bail!(
            "the returned workload secret is {} bytes, not 64",
            secret.len()
        );
    }
    match &config.trust {
        Trust::PinnedRoot(pinned) => {
            let same_key = |a: &[u8], b: &[u8]| {
                matches!(
                    (
                        x509_parser::parse_x509_certificate(a),
                        x509_parser::parse_x509_certificate(b)
                    ),
                    (Ok((_, a)), Ok((_, b))) if a.public_key().raw == b.public_key().raw
                )
            };
            if !same_key(pinned, &root) {
                anyhow::bail!(
                    "the Coordinator returned a root CA with a different key than the pinned --root-ca; this is not the Coordinator you set up"
                );
            }
        }
        Trust::FirstUse => {
            let tls_ok = observed_leaf
                .as_deref()
                .is_some_and(|tls_leaf| tls_client::signed_by(tls_leaf, &root));
            if !tls_ok {
                anyhow::bail!(
                    "the Coordinator's TLS certificate is not issued by the root CA it returned; refusing its credentials"
                );
            }
        }
    }
    Ok(())
}
