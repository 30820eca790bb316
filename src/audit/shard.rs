//! Which part of the artifact list one process audits. Artifacts are assigned by a stable hash
//! of their identity (not by their position in a sorted list), so a shard keeps its artifacts when
//! others are added or removed, and shards stay balanced as the registry grows.
//!
//! The shard comes from `--shard K/N`, else from the scheduler that started the process: a Slurm
//! job array (`SLURM_ARRAY_TASK_ID` and `SLURM_ARRAY_TASK_COUNT`, minus `SLURM_ARRAY_TASK_MIN`,
//! since an array may be numbered from 1 as in `--array=1-4`), or a Kubernetes Indexed Job
//! (`JOB_COMPLETION_INDEX`, with the completions count from `--shards N` or `MODELGATE_SHARDS`:
//! Kubernetes does not tell a pod how many completions its Job has).

use serde::{Deserialize, Serialize};

use super::AuditError;

/// Shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Default for Shard {
    /// The whole list.
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

fn invalid(reason: String) -> AuditError {
    AuditError::Shard(reason)
}

impl Shard {
    /// Shard `index` of `count`, checked.
    pub fn new(index: u32, count: u32) -> Result<Shard, AuditError> {
        if count == 0 {
            return Err(invalid("the shard count must be at least 1".into()));
        }
        if index >= count {
            return Err(invalid(format!(
                "shard index {index} is not below the shard count {count} (shards are numbered from 0)"
            )));
        }
        Ok(Shard { index, count })
    }

    /// Parses `K/N`.
    pub fn parse(text: &str) -> Result<Shard, AuditError> {
        let (k, n) = text
            .split_once('/')
            .ok_or_else(|| invalid(format!("{text:?} is not K/N (for example 0/4)")))?;
        let num = |s: &str, what: &str| {
            s.trim()
                .parse::<u32>()
                .map_err(|e| invalid(format!("{what} {s:?} in {text:?}: {e}")))
        };
        Shard::new(num(k, "shard index")?, num(n, "shard count")?)
    }

    /// The shard named by the flags, else by the scheduler's environment (`env` looks a variable
    /// up), else the whole list. `shards` is `--shards N`.
    pub fn select(
        flag: Option<&str>,
        shards: Option<u32>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Shard, AuditError> {
        if let Some(f) = flag {
            return Shard::parse(f);
        }
        let num = |name: &str| -> Result<Option<u32>, AuditError> {
            env(name)
                .filter(|v| !v.trim().is_empty())
                .map(|v| {
                    v.trim()
                        .parse::<u32>()
                        .map_err(|e| invalid(format!("{name}={v:?}: {e}")))
                })
                .transpose()
        };
        if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
            let count = num("SLURM_ARRAY_TASK_COUNT")?.ok_or_else(|| {
                invalid("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not".into())
            })?;
            let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let index = id.checked_sub(min).ok_or_else(|| {
                invalid(format!(
                    "SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {min}"
                ))
            })?;
            return Shard::new(index, count).map_err(|e| {
                invalid(format!(
                    "{e} (from the Slurm array: a sharded audit needs a contiguous array such as --array=0-{})",
                    count.saturating_sub(1)
                ))
            });
        }
        if let Some(index) = num("JOB_COMPLETION_INDEX")? {
            let count = match shards {
                Some(n) => n,
                None => num("MODELGATE_SHARDS")?.ok_or_else(|| {
                    invalid(
                        "JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but the shard count is not: pass --shards N or set MODELGATE_SHARDS to the Job's completions".into(),
                    )
                })?,
            };
            return Shard::new(index, count);
        }
        match shards {
            Some(n) if n > 1 => Err(invalid(format!(
                "--shards {n} without --shard K/N, a Slurm array or JOB_COMPLETION_INDEX: which shard is this?"
            ))),
            _ => Ok(Shard::default()),
        }
    }

    /// Whether the artifact named `identity` belongs to this shard: the first 8 bytes of the
    /// identity's sha256, modulo the count.
    pub fn contains(&self, identity: &str) -> bool {
        self.count <= 1 || shard_of(identity, self.count) == self.index
    }
}

/// The shard of `identity` among `count`.
pub fn shard_of(identity: &str, count: u32) -> u32 {
    let d = crate::hash::sha256(identity.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(d.get(..8).unwrap_or(&[0; 8]));
    u32::try_from(u64::from_be_bytes(first) % u64::from(count.max(1))).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn flags_and_schedulers_pick_the_shard() {
        assert_eq!(Shard::parse("2/4").unwrap(), Shard { index: 2, count: 4 });
        assert!(Shard::parse("4/4").is_err());
        assert!(Shard::parse("1/0").is_err());
        assert!(Shard::parse("x").is_err());
        let none = env(&[]);
        assert_eq!(Shard::select(None, None, &none).unwrap(), Shard::default());
        assert!(Shard::select(None, Some(3), &none).is_err());
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
        ]);
        assert_eq!(
            Shard::select(None, None, &slurm).unwrap(),
            Shard { index: 2, count: 4 }
        );
        // The flag wins over the environment.
        assert_eq!(
            Shard::select(Some("0/2"), None, &slurm).unwrap(),
            Shard { index: 0, count: 2 }
        );
        let k8s = env(&[("JOB_COMPLETION_INDEX", "1")]);
        assert!(Shard::select(None, None, &k8s).is_err());
        assert_eq!(
            Shard::select(None, Some(3), &k8s).unwrap(),
            Shard { index: 1, count: 3 }
        );
        let k8s = env(&[("JOB_COMPLETION_INDEX", "1"), ("MODELGATE_SHARDS", "2")]);
        assert_eq!(
            Shard::select(None, None, &k8s).unwrap(),
            Shard { index: 1, count: 2 }
        );
    }

    #[test]
    fn shards_partition_and_stay_put() {
        let names: Vec<String> = (0..1000).map(|i| format!("model-{i}.pkl")).collect();
        let mut sizes = [0usize; 4];
        for n in &names {
            let owners: Vec<u32> = (0..4)
                .filter(|&k| Shard { index: k, count: 4 }.contains(n))
                .collect();
            assert_eq!(owners.len(), 1, "{n}");
            sizes[owners[0] as usize] += 1;
        }
        assert!(sizes.iter().all(|&s| s > 200), "{sizes:?}");
        assert_eq!(shard_of("a", 4), shard_of("a", 4));
    }
}
