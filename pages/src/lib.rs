//! How blastradius presents what it measured, in one room: a document model ([`doc`]) that
//! every report and page is built as, rendered to Markdown and to one self-contained HTML
//! page style, the charts drawn on those pages ([`chart`]), and the one colour and marker
//! each detector keeps on every page ([`palette`]).

pub mod chart;
pub mod doc;
pub mod headline;
pub mod palette;
