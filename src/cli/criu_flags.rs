//! The CRIU flags `checkpoint` and `restore` share, as runc names them.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::Global;
use crate::container::criu_common::{empty_ns_mask, CriuFlags};
use crate::criu::rpc::CgMode;

#[derive(clap::Args)]
pub struct CommonArgs {
    /// Directory of the CRIU images (default: ./checkpoint)
    #[arg(long, value_name = "DIR")]
    pub image_path: Option<PathBuf>,
    /// Directory for CRIU's work files and logs (default: the image directory)
    #[arg(long, value_name = "DIR")]
    pub work_path: Option<PathBuf>,
    /// Allow open TCP connections
    #[arg(long)]
    pub tcp_established: bool,
    /// Allow external unix sockets
    #[arg(long)]
    pub ext_unix_sk: bool,
    /// Allow shell jobs
    #[arg(long)]
    pub shell_job: bool,
    /// Handle file locks
    #[arg(long)]
    pub file_locks: bool,
    /// Use userfaultfd to restore memory pages lazily
    #[arg(long)]
    pub lazy_pages: bool,
    /// Deduplicate memory images automatically
    #[arg(long)]
    pub auto_dedup: bool,
    /// How CRIU handles cgroups: soft, full, strict or ignore (default: soft)
    #[arg(long, value_name = "MODE", default_value = "")]
    pub manage_cgroups_mode: String,
    /// Create this namespace but do not restore its properties (only "network")
    #[arg(long, value_name = "NS")]
    pub empty_ns: Vec<String>,
}

impl CommonArgs {
    pub fn flags(&self, global: &Global) -> Result<CriuFlags> {
        let image_path = match &self.image_path {
            Some(path) => path.clone(),
            None => std::env::current_dir()
                .context("the current directory (for the default --image-path)")?
                .join("checkpoint"),
        };
        Ok(CriuFlags {
            criu: global.criu.clone(),
            image_path,
            work_path: self.work_path.clone(),
            tcp_established: self.tcp_established,
            ext_unix_sk: self.ext_unix_sk,
            shell_job: self.shell_job,
            file_locks: self.file_locks,
            lazy_pages: self.lazy_pages,
            auto_dedup: self.auto_dedup,
            manage_cgroups_mode: CgMode::parse(&self.manage_cgroups_mode)?,
            empty_ns: empty_ns_mask(&self.empty_ns)?,
        })
    }
}
