//! The report formats a user can ask for (`--format`), and the one dispatch from a format to its
//! renderer, so `scan`, `packages` and any later command print a format the same way.

use super::text::{self, TextOptions};
use super::{cyclonedx, sarif, Report};

/// A report output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Human-readable, grouped by file.
    #[default]
    Text,
    /// The [`Report`] as is (the documented schema).
    Json,
    /// SARIF 2.1.0 for code-scanning dashboards.
    Sarif,
    /// CycloneDX 1.6 AI-BOM (JSON); needs every artifact hashed.
    Cyclonedx,
}

/// How a report is rendered beyond its format.
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions {
    /// Text only: colour and the skipped-artifact list.
    pub text: TextOptions,
    /// Text only: lead with the package inventory table (`modelgate packages`).
    pub inventory: bool,
}

impl OutputFormat {
    /// Whether the engine must hash every artifact for this format (CycloneDX lists digests).
    pub fn needs_hashes(self) -> bool {
        self == OutputFormat::Cyclonedx
    }

    /// The report in this format, ending in a newline.
    pub fn render(self, report: &Report, opts: RenderOptions) -> String {
        match self {
            OutputFormat::Text if opts.inventory => {
                text::render_packages(report) + &text::render(report, opts.text)
            }
            OutputFormat::Text => text::render(report, opts.text),
            OutputFormat::Json => report.to_json() + "\n",
            OutputFormat::Sarif => sarif::render(report) + "\n",
            OutputFormat::Cyclonedx => cyclonedx::render(report) + "\n",
        }
    }
}
