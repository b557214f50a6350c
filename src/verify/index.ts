// verify: the proof's judge. The history format that the load generator and chaos write
// (JSON lines: a header, one record per operation and per fault, an end record), its
// streaming reader, and the checker that says from the history alone whether anything
// acknowledged was lost, duplicated or shown stale, whether users saw errors, how long the
// users of a lost site waited, and how fast each region was served: pass, fail (with every
// anomaly) or not proven; and the HTML report of a run (its verdict, charts over time with
// the faults marked, the tables), self-contained, from the history and the check alone.
export { arraySource, type CheckOptions, checkHistory, type HistorySource } from "./checker.ts";
export * as verifyConstants from "./constants.ts";
export { verifyErrors } from "./errors.ts";
export {
  type EndRecord,
  endSchema,
  type FaultEndRecord,
  type FaultKind,
  type FaultRecord,
  faultEndSchema,
  faultKinds,
  faultSchema,
  faultTiers,
  formatHistoryLine,
  type HistoryHeader,
  type HistoryRecord,
  headerSchema,
  mutationKinds,
  type OpKind,
  type OpRecord,
  type Outcome,
  opKinds,
  opSchema,
  outcomeSchema,
  recordSchema,
  type Saw,
  sawSchema,
} from "./history.ts";
export {
  buildHtmlReport,
  type HtmlReportInput,
  jsonForScript,
  loadReportAssets,
  type ReportAssets,
  writeHtmlReport,
} from "./html-report.ts";
export { fileSource, type NumberedRecord, parseHistoryLine, type ReadProgress, readHistoryFile } from "./reader.ts";
export {
  type Anomaly,
  type AnomalyKind,
  anomalyKinds,
  type CheckReport,
  formatReportText,
  type OpRef,
  type Percentiles,
  type SiteLossReport,
  type Verdict,
} from "./report.ts";
export { buildTimeline, type Timeline, type TimelineFault } from "./timeline.ts";
export { HistoryWriter } from "./writer.ts";
