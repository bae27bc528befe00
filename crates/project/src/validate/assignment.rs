//! A Kafka source's `assignment`: which partitions this worker reads.
//!
//! The default is the consumer group's choice. A fixed share (`{worker: N, workers: M}`) is read
//! from the environment in real deployments (`worker: "${WORKER_ID}"`), so the number is checked
//! here, after substitution: a worker that started with a wrong number would read someone else's
//! partitions, or none.

use super::Validator;
use crate::diagnostic::{At, Diagnostic};
use crate::raw::RawAssignment;
use crate::spec::PartitionAssignment;
use crate::yaml::Spanned;

impl Validator {
    pub(super) fn assignment(
        &mut self,
        raw: Option<&Spanned<RawAssignment>>,
    ) -> Option<PartitionAssignment> {
        let Some(raw) = raw else {
            return Some(PartitionAssignment::Group);
        };
        match &raw.value {
            RawAssignment::Named(name) => self.choice(
                name,
                "partition assignment",
                &[
                    ("group", PartitionAssignment::Group),
                    (
                        "fixed",
                        PartitionAssignment::Fixed {
                            worker: 0,
                            workers: 1,
                        },
                    ),
                ],
            ),
            RawAssignment::Share {
                worker,
                workers,
                present,
            } => {
                let (Some(worker), Some(workers)) = (worker, workers) else {
                    for key in ["worker", "workers"] {
                        if !present.contains(&key) {
                            self.missing_share_key(&raw.at, key);
                        }
                    }
                    return None;
                };
                let workers_count = self.workers(workers)?;
                let worker_number = self.worker(worker, workers_count)?;
                Some(PartitionAssignment::Fixed {
                    worker: worker_number,
                    workers: workers_count,
                })
            }
        }
    }

    fn missing_share_key(&mut self, at: &At, key: &str) {
        self.report(
            Diagnostic::at(at, format!("the assignment needs `{key}`")).help(
                "write `assignment: {worker: \"${WORKER_ID}\", workers: 2}`: this worker's number and how many share the topic",
            ),
        );
    }

    fn workers(&mut self, workers: &Spanned<i64>) -> Option<u32> {
        match u32::try_from(workers.value) {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                self.report(
                    Diagnostic::at(
                        &workers.at,
                        format!("`workers` is {}, not a count of workers", workers.value),
                    )
                    .help("write how many workers share the topic, 1 or more"),
                );
                None
            }
        }
    }

    fn worker(&mut self, worker: &Spanned<crate::env::Templated>, workers: u32) -> Option<u32> {
        let template = worker.value.template();
        let number = worker.value.resolved().trim().parse::<u32>();
        let message = match number {
            Ok(n) if n < workers => return Some(n),
            Ok(n) => format!(
                "`worker` is {n}, but workers are numbered 0 to {}",
                workers - 1
            ),
            Err(_) if worker.value.is_interpolated() => {
                format!("`worker` (`{template}`) is not a whole number")
            }
            Err(_) => format!("`worker` is `{template}`, not a whole number"),
        };
        self.report(Diagnostic::at(&worker.at, message).help(format!(
            "give each worker its own number from 0 to {}, e.g. `worker: \"${{WORKER_ID}}\"` with WORKER_ID set per worker",
            workers - 1
        )));
        None
    }
}
