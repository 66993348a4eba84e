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

    /// A realistic manifest (about 1,100 bytes: two policies, one owner of each kind, one
    /// SEV-SNP reference value and `"none": {}` for the development Coordinator), distinct per
    /// generation through the reference value's measurement.
    pub(crate) fn manifest(&self, generation: usize) -> Vec<u8> {
        let reference_values = seedward_tests::reference_values(generation as u64);
        self.template
            .replacen(
                REFERENCE_VALUES_EMPTY,
                &format!("\"ReferenceValues\": {reference_values}"),
                1,
            )
            .into_bytes()
    }

    /// The first set of `manifest` on an uninitialized Coordinator (no signature).
    pub(crate) fn first_set(&self, manifest: Vec<u8>) -> pb::SetManifestRequest {
        pb::SetManifestRequest {
            manifest,
            policies: self.policies.clone(),
            previous_transition_hash: Some(Digest::ZERO.as_bytes().to_vec()),
            signature: Vec::new(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every generation's manifest is valid (the Coordinator refuses anything else) and
    /// distinct.
    #[test]
    fn bench_manifests_are_valid_and_distinct() -> Result<()> {
        let material = Material::new()?;
        for generation in [0, 1, 99_999, 100_000] {
            Manifest::parse_and_validate(material.manifest(generation))
                .with_context(|| format!("generation {generation}"))?;
        }
        if material.manifest(1) == material.manifest(2) {
            bail!("generations 1 and 2 share a manifest");
        }
        Ok(())
    }
}
