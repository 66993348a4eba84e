//! The gRPC workload API (`seedward.v1.WorkloadApi`): a thin layer that verifies the
//! evidence, hands the request to the core on a blocking thread and converts the answer.
//! Errors become `Status` through `From<CoreError>`, the one mapping in [`crate::error`].
//! The workload secret is never logged.

use std::sync::Arc;

use seedward_proto::v1 as pb;
use seedward_shared::history::HistoryStore;
use tonic::{Request, Response, Status};

use crate::core::Coordinator;
use crate::credentials::WorkloadPublicKey;
use crate::error::CoreError;
use crate::workload_evidence::WorkloadVerifier;

/// How often verification is retried when the active manifest changes underneath it.
const MANIFEST_RACE_ATTEMPTS: usize = 3;

/// The `seedward.v1.WorkloadApi` service.
pub struct WorkloadService<S: HistoryStore + 'static> {
    core: Arc<Coordinator<S>>,
    verifier: Arc<WorkloadVerifier>,
}

impl<S: HistoryStore + 'static> WorkloadService<S> {
    pub fn new(core: Arc<Coordinator<S>>, verifier: Arc<WorkloadVerifier>) -> Self {
        Self { core, verifier }
    }

    /// Verifies the evidence against the active manifest's reference values (without the
    /// core's lock), then asks the core for credentials under that same manifest; if an
    /// update landed in between, verifies again against the new one.
    fn credentials(
        core: &Coordinator<S>,
        verifier: &WorkloadVerifier,
        req: pb::GetCredentialsRequest,
    ) -> Result<pb::GetCredentialsResponse, CoreError> {
        let evidence = req.evidence.ok_or(CoreError::InvalidArgument {
            field: "evidence",
            message: "missing; send the workload's evidence (kind and policy hash)".into(),
        })?;
        let public_key = WorkloadPublicKey::from_spki_der(&req.public_key)?;
        let mut attempt = 0;
        let (workload, credentials) = loop {
            attempt += 1;
            let active = core.active_reference()?;
            let reference = match &*active.reference {
                Ok(reference) => reference,
                Err(detail) => {
                    return Err(CoreError::EvidenceRejected {
                        detail: format!(
                            "the active manifest's ReferenceValues do not parse ({detail}); set a manifest with valid reference values"
                        ),
                    });
                }
            };
            let workload = verifier.verify(
                &evidence,
                &req.public_key,
                reference,
                std::time::SystemTime::now(),
            )?;
            match core.workload_credentials(&workload, &public_key, active.manifest_hash) {
                Ok(credentials) => break (workload, credentials),
                Err(CoreError::StaleLatest { .. }) if attempt < MANIFEST_RACE_ATTEMPTS => continue,
                Err(err) => return Err(err),
            }
        };
        tracing::info!(
            policy_hash = %workload.policy_hash(),
            workload_secret = credentials.workload_secret.is_some(),
            "issued workload credentials"
        );
        Ok(credentials.into())
    }
}

#[tonic::async_trait]
impl<S: HistoryStore + 'static> pb::workload_api_server::WorkloadApi for WorkloadService<S> {
    async fn get_credentials(
        &self,
        request: Request<pb::GetCredentialsRequest>,
    ) -> Result<Response<pb::GetCredentialsResponse>, Status> {
        let peer = crate::connections::peer_of(&request)
            .map_or_else(|| "-".to_string(), |addr| addr.to_string());
        let req = request.into_inner();
        let core = self.core.clone();
        let verifier = self.verifier.clone();
        let result =
            tokio::task::spawn_blocking(move || Self::credentials(&core, verifier.as_ref(), req))
                .await
                .map_err(|e| {
                    Status::from(CoreError::Internal(format!(
                        "GetCredentials did not complete: {e}"
                    )))
                })?;
        match result {
            Ok(v) => Ok(Response::new(v)),
            Err(err) => {
                tracing::info!(
                    rpc = "GetCredentials",
                    %peer,
                    reason = %err.reason(),
                    "request refused"
                );
                Err(err.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The workload API against a real core on a `MemoryStore` (the core's fixture pattern):
    //! secrets, certificates, restarts, recovery, updates and the error codes.

    use std::net::IpAddr;

    use pb::workload_api_server::WorkloadApi as _;
    use rand_core::OsRng;
    use seedward_shared::history::{Digest, MemoryStore, Transition};
    use seedward_shared::keys::{OwnerKeyPair, WorkloadOwnerKeyPair};
    use seedward_shared::manifest::Manifest;
    use seedward_shared::recovery::seal_recovery;
    use seedward_shared::seed::{Salt, Seed, SeedEngine};
    use tonic::Code;
    use x509_parser::extensions::GeneralName;

    use super::*;
    use crate::core::{CoreConfig, RecoverInput, SetManifestInput};
    use crate::workload_evidence::WorkloadVerifier;

    const DB_A: &[u8] = b"policy: database replica a";
    const DB_B: &[u8] = b"policy: database replica b";
    const WEB: &[u8] = b"policy: web";
    const PLAIN: &[u8] = b"policy: no secret";
    const LATER: &[u8] = b"policy: added by an update";

    struct Fixture {
        store: Arc<MemoryStore>,
        owner: OwnerKeyPair,
        workload_owner: WorkloadOwnerKeyPair,
    }

    impl Fixture {
        fn new() -> Self {
            Self {
                store: Arc::new(MemoryStore::new()),
                owner: OwnerKeyPair::generate(&mut OsRng),
                workload_owner: WorkloadOwnerKeyPair::generate(&mut OsRng),
            }
        }

        fn manifest(&self, with_later: bool) -> (Vec<u8>, Vec<Vec<u8>>) {
            let mut policies = serde_json::json!({
                Digest::of(DB_A).to_hex(): {"SANs": ["db", "*.db.svc", "10.0.0.7"], "WorkloadSecretID": "db"},
                Digest::of(DB_B).to_hex(): {"SANs": ["db"], "WorkloadSecretID": "db"},
                Digest::of(WEB).to_hex(): {"SANs": ["web"], "WorkloadSecretID": "web"},
                Digest::of(PLAIN).to_hex(): {"SANs": ["plain"]},
            });
            let mut docs = vec![DB_A.to_vec(), DB_B.to_vec(), WEB.to_vec(), PLAIN.to_vec()];
            if with_later {
                policies[Digest::of(LATER).to_hex()] = serde_json::json!({"SANs": ["later"]});
                docs.push(LATER.to_vec());
            }
            let manifest = serde_json::json!({
                "Policies": policies,
                "ReferenceValues": {},
                "WorkloadOwnerPubKeys": [self.workload_owner.public_key().to_hex()],
                "SeedshareOwnerPubKeys": [self.owner.public_key().to_hex()],
            });
            (format!("{manifest:#}\n").into_bytes(), docs)
        }

        fn service(&self) -> WorkloadService<Arc<MemoryStore>> {
            let core = Coordinator::new(self.store.clone(), CoreConfig::default()).unwrap();
            WorkloadService::new(Arc::new(core), Arc::new(WorkloadVerifier::default()))
        }

        /// First set; returns the seed and salt the owner gets from its seed share.
        fn first_set(&self, service: &WorkloadService<Arc<MemoryStore>>) -> (Seed, Salt) {
            let (manifest, policies) = self.manifest(false);
            let response = service
                .core
                .set_manifest(SetManifestInput {
                    manifest,
                    policies,
                    previous: None,
                    signature: vec![],
                })
                .unwrap();
            response
                .seed_shares
                .unwrap()
                .open_with(&self.owner)
                .unwrap()
        }

        fn recover(&self, service: &WorkloadService<Arc<MemoryStore>>, seed: &Seed, salt: &Salt) {
            let challenge = service.core.status().unwrap().challenge.unwrap();
            let envelope = seal_recovery(
                &self.owner,
                &challenge.public_key,
                &challenge.nonce,
                challenge.latest.as_bytes(),
                seed,
                salt,
                &mut OsRng,
            )
            .unwrap();
            service
                .core
                .recover(RecoverInput {
                    challenge_id: challenge.id.to_vec(),
                    owner: self.owner.public_key(),
                    envelope,
                })
                .unwrap();
        }

        fn update(&self, service: &WorkloadService<Arc<MemoryStore>>) {
            let (manifest, policies) = self.manifest(true);
            let latest = service.core.status().unwrap().latest.unwrap();
            let proposed =
                Transition::after(latest, Manifest::parse(manifest.clone()).unwrap().hash()).hash();
            service
                .core
                .set_manifest(SetManifestInput {
                    manifest,
                    policies,
                    previous: Some(latest),
                    signature: self
                        .workload_owner
                        .sign_transition(proposed.as_bytes())
                        .unwrap(),
                })
                .unwrap();
        }
    }

    fn key() -> rcgen::KeyPair {
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
    }

    async fn ask(
        service: &WorkloadService<Arc<MemoryStore>>,
        policy: &[u8],
        key: &rcgen::KeyPair,
    ) -> Result<pb::GetCredentialsResponse, Status> {
        service
            .get_credentials(Request::new(pb::GetCredentialsRequest {
                evidence: Some(pb::WorkloadEvidence {
                    kind: "none".into(),
                    policy_hash: Digest::of(policy).as_bytes().to_vec(),
                    report: vec![],
                    ..Default::default()
                }),
                public_key: rcgen::PublicKeyData::subject_public_key_info(key),
            }))
            .await
            .map(Response::into_inner)
    }

    async fn secret(service: &WorkloadService<Arc<MemoryStore>>, policy: &[u8]) -> Option<Vec<u8>> {
        ask(service, policy, &key()).await.unwrap().workload_secret
    }

    fn reason(status: &Status) -> &'static str {
        seedward_proto::Reason::of(status).unwrap().as_str()
    }

    fn pem_ders(pem: &str) -> Vec<Vec<u8>> {
        x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes())
            .map(|p| p.unwrap().contents)
            .collect()
    }

    #[tokio::test]
    async fn secrets_follow_the_workload_secret_id() {
        let f = Fixture::new();
        let service = f.service();
        let (seed, salt) = f.first_set(&service);

        let a1 = secret(&service, DB_A).await.unwrap();
        let a2 = secret(&service, DB_A).await.unwrap();
        let b = secret(&service, DB_B).await.unwrap();
        let web = secret(&service, WEB).await.unwrap();
        assert_eq!(a1.len(), 64);
        assert_eq!(a1, a2, "same policy, two requests");
        assert_eq!(a1, b, "same WorkloadSecretID under another policy");
        assert_ne!(a1, web, "another WorkloadSecretID");
        assert_eq!(secret(&service, PLAIN).await, None, "no WorkloadSecretID");

        // The seed share owner derives the same secret offline.
        let engine = SeedEngine::new(&seed, &salt).unwrap();
        assert_eq!(
            engine.derive_workload_secret("db").unwrap().expose(),
            &a1[..]
        );
        assert_eq!(
            engine.derive_workload_secret("web").unwrap().expose(),
            &web[..]
        );
    }

    #[tokio::test]
    async fn secrets_survive_restart_recovery_and_updates() {
        let f = Fixture::new();
        let service = f.service();
        let (seed, salt) = f.first_set(&service);
        let before = secret(&service, DB_A).await.unwrap();
        let mesh_before = ask(&service, DB_A, &key()).await.unwrap().mesh_ca_cert;

        // A signed manifest update keeps the secret; the new policy is served at once.
        f.update(&service);
        assert_eq!(secret(&service, DB_A).await.unwrap(), before);
        assert_eq!(secret(&service, LATER).await, None);
        ask(&service, LATER, &key()).await.unwrap();

        // Restart: not ready until recovered, and the error says so with a retryable code.
        drop(service);
        let service = f.service();
        let err = ask(&service, DB_A, &key()).await.unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition);
        assert_eq!(reason(&err), "RECOVERY_REQUIRED");
        assert!(seedward_initializer::is_retryable(err.code()));

        f.recover(&service, &seed, &salt);
        let after = ask(&service, DB_A, &key()).await.unwrap();
        assert_eq!(after.workload_secret.unwrap(), before);
        assert_eq!(
            secret(&service, LATER).await,
            None,
            "the update survived too"
        );
        assert_ne!(
            after.mesh_ca_cert, mesh_before,
            "recovery draws a new mesh CA key"
        );
    }

    #[tokio::test]
    async fn leaf_chains_to_the_mesh_ca_and_carries_the_sans() {
        let f = Fixture::new();
        let service = f.service();
        f.first_set(&service);
        for k in [
            key(),
            rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap(),
        ] {
            let r = ask(&service, DB_A, &k).await.unwrap();
            let chain = pem_ders(&r.cert_chain);
            assert_eq!(chain.len(), 2);
            let mesh = pem_ders(&r.mesh_ca_cert).remove(0);
            let root = pem_ders(&r.root_ca_cert).remove(0);
            assert_eq!(chain[1], mesh);
            let (_, leaf) = x509_parser::parse_x509_certificate(&chain[0]).unwrap();
            let (_, mesh) = x509_parser::parse_x509_certificate(&mesh).unwrap();
            let (_, root) = x509_parser::parse_x509_certificate(&root).unwrap();
            leaf.verify_signature(Some(mesh.public_key())).unwrap();
            mesh.verify_signature(Some(root.public_key())).unwrap();
            assert!(leaf.verify_signature(Some(root.public_key())).is_err());
            assert!(!leaf.is_ca());
            assert_eq!(
                leaf.public_key().raw,
                rcgen::PublicKeyData::subject_public_key_info(&k).as_slice()
            );
            let san = leaf.subject_alternative_name().unwrap().unwrap();
            let names: Vec<String> = san
                .value
                .general_names
                .iter()
                .map(|n| match n {
                    GeneralName::DNSName(d) => format!("dns:{d}"),
                    GeneralName::IPAddress(b) => {
                        let ip: [u8; 4] = (*b).try_into().unwrap();
                        format!("ip:{}", IpAddr::from(ip))
                    }
                    other => format!("{other:?}"),
                })
                .collect();
            assert_eq!(names, ["dns:db", "dns:*.db.svc", "ip:10.0.0.7"]);
            let eku = leaf.extended_key_usage().unwrap().unwrap().value;
            assert!(eku.server_auth && eku.client_auth);
            assert!(leaf.subject().to_string().contains("CN=db"));
        }
    }

    #[tokio::test]
    async fn refusals_have_precise_codes() {
        let f = Fixture::new();
        let service = f.service();

        // Not ready (uninitialized): FailedPrecondition, reason UNINITIALIZED → retry.
        let err = ask(&service, DB_A, &key()).await.unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition);
        assert_eq!(reason(&err), "UNINITIALIZED");

        f.first_set(&service);
        // Unknown policy: PermissionDenied, final.
        let err = ask(&service, b"not in the manifest", &key())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
        assert_eq!(reason(&err), "UNKNOWN_POLICY");
        assert!(
            err.message()
                .contains(&Digest::of(b"not in the manifest").to_hex())
        );
        assert!(!seedward_initializer::is_retryable(err.code()));

        // A malformed key, a missing evidence, a foreign evidence kind.
        let mut request = pb::GetCredentialsRequest {
            evidence: Some(pb::WorkloadEvidence {
                kind: "none".into(),
                policy_hash: Digest::of(DB_A).as_bytes().to_vec(),
                report: vec![],
                ..Default::default()
            }),
            public_key: b"not a key".to_vec(),
        };
        let err = service
            .get_credentials(Request::new(request.clone()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        request.public_key = rcgen::PublicKeyData::subject_public_key_info(&key());
        let mut no_evidence = request.clone();
        no_evidence.evidence = None;
        let err = service
            .get_credentials(Request::new(no_evidence))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        if let Some(e) = request.evidence.as_mut() {
            e.kind = "tdx".into();
        }
        let err = service
            .get_credentials(Request::new(request))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
        assert_eq!(reason(&err), "EVIDENCE_REJECTED");
    }
}
