//! Deployment material: keys, manifests and the seed every section uses.

use anyhow::{Context, Result, bail};
use rand_core::OsRng;
use seedward_proto::v1 as pb;
use seedward_shared::history::{Digest, Transition};
use seedward_shared::keys::{OwnerKeyPair, WorkloadOwnerKeyPair};
use seedward_shared::manifest::Manifest;

pub(crate) struct Material {
    pub(crate) owner: OwnerKeyPair,
    pub(crate) workload: WorkloadOwnerKeyPair,
    /// The template manifest, with `"ReferenceValues": {}` to be filled per generation.
    pub(crate) template: String,
    pub(crate) policies: Vec<Vec<u8>>,
}

pub(crate) const REFERENCE_VALUES_EMPTY: &str = "\"ReferenceValues\": {}";

impl Material {
    pub(crate) fn new() -> Result<Self> {
        let owner = OwnerKeyPair::generate(&mut OsRng);
        let workload = WorkloadOwnerKeyPair::generate(&mut OsRng);
        let template = Manifest::template(
            &[owner.public_key().to_hex()],
            &[workload.public_key().to_hex()],
        );
        let text = String::from_utf8(template.manifest)?;
        if text.matches(REFERENCE_VALUES_EMPTY).count() != 1 {
            bail!("the manifest template changed shape; update seedward-bench");
        }
        let material = Self {
            owner,
            workload,
            template: text,
            policies: template.policies,
        };
        Manifest::parse_and_validate(material.manifest(0))
            .context("the bench manifest is not valid")?;
        Ok(material)
    }

    /// A realistic manifest (about 900 bytes: two policies, one owner of each kind), distinct
    /// per generation.
    pub(crate) fn manifest(&self, generation: usize) -> Vec<u8> {
        self.template
            .replacen(
                REFERENCE_VALUES_EMPTY,
                &format!("\"ReferenceValues\": {{\"generation\": {generation}}}"),
                1,
            )
            .into_bytes()
    }

    pub(crate) fn signed_update(
        &self,
        generation: usize,
        previous: Digest,
    ) -> Result<pb::SetManifestRequest> {
        let manifest = self.manifest(generation);
        let proposed = Transition::after(previous, Digest::of(&manifest)).hash();
        let signature = self
            .workload
            .sign_transition(proposed.as_bytes())
            .context("signing the update")?;
        Ok(pb::SetManifestRequest {
            manifest,
            policies: self.policies.clone(),
            previous_transition_hash: Some(previous.as_bytes().to_vec()),
            signature,
        })
    }
}

pub(crate) fn digest(bytes: &[u8]) -> Result<Digest> {
    Digest::from_slice(bytes).context("not a 32-byte hash")
}
