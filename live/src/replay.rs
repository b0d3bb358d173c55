//! The async shell of `blastradius replay`: tokio drives the socket and the timers; the
//! merge, the schedule, the encoders and the matcher it drives are plain code.
//!
//! A producer thread merges the log, gives each event its intended send time and encodes
//! chunks of events due within the same millisecond; the writer task waits until a chunk is
//! due and writes it. A slow reader slows the writer (TCP backpressure), and with it the
//! producer (a bounded channel): nothing is dropped, and how far behind schedule the replay
//! fell is recorded. Findings coming back are matched as they arrive.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use blastradius_analyzer::analyze::truth_of;
use blastradius_analyzer::discover::{Incident, Worlds};
use blastradius_dataset::Dataset;
use hdrhistogram::Histogram;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::Error;
use crate::discovery::{LiveDiscovery, Onsets, Received, score_all};
use crate::latency::Matcher;
use crate::lateness::Disorder;
use crate::report::{Lag, LiveReport};
use crate::schedule::Shape;
use crate::source::{Item, Merged};
use crate::timeline::Timeline;
use crate::wire::{self, Format, Message};

/// Where the events go.
#[derive(Clone, Debug)]
pub enum Target {
    /// Wait for one detector to connect here (loopback unless told otherwise).
    Listen(String),
    /// Connect to a detector listening here.
    Connect(String),
    /// Standard output (findings then come through `findings`).
    Stdout,
}

/// What to replay and how.
pub struct Options {
    pub dataset: PathBuf,
    pub target: Target,
    /// Where findings come back when they do not on the events' connection: an address to
    /// listen on for one detector's findings connection.
    pub findings: Option<String>,
    pub format: Format,
    pub shape: Shape,
    pub from: Option<i64>,
    pub until: Option<i64>,
    pub truth_key: Option<PathBuf>,
    /// How long to wait for findings after the last event was sent.
    pub wait: Duration,
    /// How long to wait for a detector to connect.
    pub accept_timeout: Duration,
    /// How long a write may wait for the detector to read anything: past it the detector is
    /// taken as stuck and the replay stops, with a report (a slow reader only slows it).
    pub read_timeout: Duration,
    /// When set, a heartbeat ([`wire::heartbeat`]) goes out whenever this long passes
    /// without a write: while the schedule pauses, and while the log is slow to read.
    pub heartbeat: Option<Duration>,
    /// A stall injected before the `n`-th event (for the coordinated-omission check).
    pub stall: Option<(u64, Duration)>,
    /// Called with the address listened on, once bound (port 0 picks a free one).
    pub on_listen: Option<Box<dyn FnOnce(SocketAddr) + Send>>,
}

/// A chunk of encoded events due at `due` µs after the start.
struct Chunk {
    bytes: Vec<u8>,
    due: i64,
    events: u64,
    /// The events the matcher must see once the chunk is written, with when each was due.
    marks: Vec<(Item, i64)>,
    /// The latest log time among its events (what the stream has reached once it is sent).
    reached: i64,
    part: Part,
}

/// Where a chunk stands in the stream, for heartbeats: none before the stream is open (an
/// Arrow reader needs the schema first), none after its end (nothing may follow Arrow's
/// end-of-stream marker).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    /// Arrow's schema message, sent at once so heartbeats can start before the first event
    /// (a `--from` slice far into the log reads for long before it sends one).
    Open,
    Events,
    /// Arrow's end-of-stream marker.
    Close,
}

/// Merges, schedules and encodes on this (blocking) thread, sending chunks to `tx`.
fn produce(
    mut merged: Merged,
    shape: Shape,
    format: Format,
    stall: Option<(u64, Duration)>,
    matcher: Option<Arc<Mutex<Matcher>>>,
    mut onsets: Onsets,
    tx: mpsc::Sender<Chunk>,
) -> Result<(Disorder, Onsets), Error> {
    let mut disorder = Disorder::default();
    let (access, until) = (merged.access, merged.until());
    let mut ipc = match format {
        Format::Arrow => Some(
            arrow::ipc::writer::StreamWriter::try_new(Vec::new(), &wire::stream_schema(access))
                .map_err(|e| Error::Wire(e.to_string()))?,
        ),
        Format::Json => None,
    };
    if let Some(w) = ipc.as_mut() {
        let open = Chunk {
            bytes: std::mem::take(w.get_mut()),
            due: 0,
            events: 0,
            marks: Vec::new(),
            reached: i64::MIN,
            part: Part::Open,
        };
        if tx.blocking_send(open).is_err() {
            return Ok((disorder, onsets)); // the writer stopped
        }
    }
    let mut first_ts = None;
    let mut n = 0u64;
    // The chunk's rows: counted, and kept only to encode them as a record batch (JSON lines
    // are written as the rows come).
    let mut pending: Vec<Item> = Vec::new();
    let mut in_chunk = 0usize;
    let mut marks: Vec<(Item, i64)> = Vec::new();
    let mut bytes = Vec::new();
    let (mut chunk_start, mut chunk_due, mut reached) = (0, 0, i64::MIN);
    let flush = |pending: &mut Vec<Item>,
                 in_chunk: &mut usize,
                 marks: &mut Vec<(Item, i64)>,
                 bytes: &mut Vec<u8>,
                 ipc: &mut Option<arrow::ipc::writer::StreamWriter<Vec<u8>>>,
                 due: i64,
                 reached: i64|
     -> Result<bool, Error> {
        if *in_chunk == 0 {
            return Ok(true);
        }
        if let Some(w) = ipc.as_mut() {
            w.write(&wire::batch(pending, access))
                .map_err(|e| Error::Wire(e.to_string()))?;
            bytes.append(w.get_mut());
        }
        let chunk = Chunk {
            bytes: std::mem::take(bytes),
            due,
            events: *in_chunk as u64,
            marks: std::mem::take(marks),
            reached,
            part: Part::Events,
        };
        pending.clear();
        *in_chunk = 0;
        Ok(tx.blocking_send(chunk).is_ok())
    };
    while let Some(e) = merged.next_item()? {
        if let Some((at, pause)) = stall
            && n == at
        {
            std::thread::sleep(pause);
        }
        // Log time runs from the first user row: the platform's rows (the deploys; a View-As
        // flaw dated a year before the period) go at once when they come before it, and
        // those after a slice's end at its end, so a speed-up schedule never waits on them.
        let at = match e.is_system() {
            true => {
                let capped = until.map_or(e.ts(), |u| e.ts().min(u));
                first_ts.map_or(capped, |f: i64| capped.max(f))
            }
            false => {
                first_ts.get_or_insert(e.ts());
                e.ts()
            }
        };
        let due = shape.intended(n, at - first_ts.unwrap_or(at));
        if let Some(m) = &matcher {
            m.lock().expect("not poisoned").scheduled(at, due);
        }
        onsets.scheduled(at, e.event_id(), due);
        disorder.observe(e.ts(), e.event_id());
        // A chunk holds the events due within one millisecond (at most 65,536); it is sent
        // when its last event is due, so no event goes out early, none more than 1 ms late.
        if in_chunk > 0
            && (due - chunk_start >= 1000 || in_chunk >= 1 << 16)
            && !flush(
                &mut pending,
                &mut in_chunk,
                &mut marks,
                &mut bytes,
                &mut ipc,
                chunk_due,
                reached,
            )?
        {
            return Ok((disorder, onsets)); // the writer stopped
        }
        if in_chunk == 0 {
            chunk_start = due;
        }
        chunk_due = chunk_due.max(due);
        reached = reached.max(at);
        // The matcher learns of the event as its chunk is written (see `drive`).
        if matcher.is_some() && Matcher::matters(&e) {
            marks.push((e, due));
        }
        match format {
            Format::Json => wire::json_line(&mut bytes, &e),
            Format::Arrow => pending.push(e),
        }
        in_chunk += 1;
        n += 1;
    }
    flush(
        &mut pending,
        &mut in_chunk,
        &mut marks,
        &mut bytes,
        &mut ipc,
        chunk_due,
        reached,
    )?;
    if let Some(mut w) = ipc {
        w.finish().map_err(|e| Error::Wire(e.to_string()))?;
        let tail = std::mem::take(w.get_mut());
        let _ = tx.blocking_send(Chunk {
            bytes: tail,
            due: chunk_due,
            events: 0,
            marks: Vec::new(),
            reached,
            part: Part::Close,
        });
    }
    Ok((disorder, onsets))
}

/// Reads findings lines from `reader` into the matcher until it closes.
async fn collect<R: AsyncRead + Unpin>(
    reader: R,
    matcher: Option<Arc<Mutex<Matcher>>>,
    start: Instant,
    ended: Arc<std::sync::atomic::AtomicBool>,
    garbage: Arc<Mutex<Unparsed>>,
    findings: Arc<std::sync::atomic::AtomicU64>,
    alarms: Arc<Alarms>,
) {
    use std::sync::atomic::Ordering;
    // Bytes, not text: a line that is not UTF-8 is one line not understood, and the
    // findings after it still count (as text, it ended the channel).
    let mut reader = BufReader::new(reader);
    let mut bytes = Vec::new();
    for number in 1u64.. {
        bytes.clear();
        match reader.read_until(b'\n', &mut bytes).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let Ok(line) = std::str::from_utf8(&bytes) else {
            let why = "not UTF-8".to_string();
            garbage
                .lock()
                .expect("not poisoned")
                .add(number, why, &bytes);
            continue;
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let received = start.elapsed().as_micros() as i64;
        match wire::message(line) {
            Ok(Message::Alarm(alarm)) => alarms.came(alarm, received),
            Ok(Message::Finding(f)) => {
                findings.fetch_add(1, Ordering::Relaxed);
                if let Some(m) = &matcher {
                    m.lock().expect("not poisoned").finding(
                        f,
                        received,
                        ended.load(Ordering::Relaxed),
                    );
                }
            }
            Err(why) => {
                garbage
                    .lock()
                    .expect("not poisoned")
                    .add(number, why, line.as_bytes());
            }
        }
    }
}

/// The alarms that came, and the log time the stream has reached (the latest event sent).
#[derive(Debug)]
struct Alarms {
    reached: std::sync::atomic::AtomicI64,
    came: Mutex<Vec<Received>>,
}

impl Default for Alarms {
    fn default() -> Self {
        Alarms {
            reached: std::sync::atomic::AtomicI64::new(i64::MIN),
            came: Mutex::default(),
        }
    }
}

impl Alarms {
    fn came(&self, alarm: wire::WireAlarm, received: i64) {
        // Before any event was sent there is no log time yet: the epoch stands for it, before
        // every onset, so such an alarm is a false one.
        let log_ts = self
            .reached
            .load(std::sync::atomic::Ordering::Acquire)
            .max(0);
        self.came.lock().expect("not poisoned").push(Received {
            alarm,
            log_ts,
            received,
        });
    }
}

/// Findings lines not understood: how many, and the first named.
#[derive(Debug, Default)]
struct Unparsed {
    count: u64,
    first: Option<String>,
}

impl Unparsed {
    fn add(&mut self, number: u64, why: String, bytes: &[u8]) {
        self.count += 1;
        if self.first.is_none() {
            let text = String::from_utf8_lossy(bytes);
            let start: String = text.trim().chars().take(60).collect();
            self.first = Some(format!("line {number} ({why}): {}", start.escape_debug()));
        }
    }
}

/// Replays the dataset as `options` say; returns what was measured.
///
/// # Errors
/// A dataset that cannot be read, an address that cannot be bound or reached, no detector
/// connecting in time. A detector that disconnects, sends garbage or never answers is not an
/// error: the report says so.
pub fn run(mut options: Options) -> Result<LiveReport, Error> {
    let dataset = Dataset::open(&options.dataset)?;
    let truth = truth_of(&dataset, options.truth_key.as_deref())?;
    let perturbed = dataset.manifest.perturbation.is_some();
    let merged = Merged::open(&dataset, options.from, options.until)?;
    let access = merged.access;
    let events_in_files = merged.events_in_files;
    let skipped = merged.skipped.clone();
    let matcher = truth
        .as_ref()
        .map(|t| Arc::new(Mutex::new(Matcher::new(t))));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Wire(e.to_string()))?;
    let on_listen = options.on_listen.take();
    // The discovery score's worlds (only needed if alarms come; an error is said then).
    let worlds = truth
        .as_ref()
        .map(|t| blastradius_analyzer::discover::worlds_of(&dataset, t).map_err(|e| e.to_string()));
    // An onset before `--from` is not timed: its deploy row goes out (the deploys always do),
    // but not what followed it before `--from` (the report says so).
    let onsets = Onsets::new(match &worlds {
        Some(Ok(w)) => [
            w.bug.map(|(id, t)| (Incident::PhotoBug, t, Some(id))),
            w.view_as
                .as_ref()
                .and_then(|v| v.onset)
                .map(|t| (Incident::ViewAs, t, None)),
        ]
        .into_iter()
        .flatten()
        .filter(|o| options.from.is_none_or(|f| o.1 >= f))
        .collect(),
        _ => Vec::new(),
    });
    let result = runtime.block_on(drive(&options, merged, matcher.clone(), onsets, on_listen));
    runtime.shutdown_timeout(Duration::from_millis(100));
    let (
        sent,
        seconds,
        intended,
        lag,
        stopped,
        counters,
        disorder,
        mut timeline,
        (onsets, came, reached),
    ) = result?;
    let (findings, unparsed) = counters;
    // A replay of the whole log is scored as a batch run is, against the whole truth.
    let whole = options.from.is_none() && options.until.is_none() && stopped.is_none();
    let mut notes = Vec::new();
    if access && !dataset.manifest.complete {
        notes.push(
            "one shard of a larger View-As world: its access log was streamed, but its thefts \
             (logged in the pivots' shards) and its truth (kept in the owners') are not the \
             same, so View-As findings are not scored"
                .to_string(),
        );
    }
    if dataset.manifest.control {
        notes.push(
            "a control world (generate --no-incident): no incident happened in it; every \
             finding is a false positive"
                .to_string(),
        );
    }
    let (latency, scores, after_end, premature, histogram) = match &matcher {
        Some(m) => {
            let m = m.lock().expect("not poisoned");
            timeline.merge(&m.detections);
            if !m.by_event_id() && perturbed {
                notes.push(
                    "the truth names no exposing call ids (a dataset made before they were \
                     recorded): exposing calls are matched by their time, which a skewed \
                     damaged copy changes, so their latencies are not measured; regenerate \
                     the dataset (same command) and damage it again to time them"
                        .to_string(),
                );
            }
            (
                Some(m.latency()),
                Some(m.scores(whole)),
                m.after_end,
                m.premature(),
                Some(m.all.clone()),
            )
        }
        None => (None, None, 0, 0, None),
    };
    // A replay that stopped early is scored over the log time it sent (none: the epoch, as
    // an alarm before any event is dated).
    let reached = reached.max(0);
    let until = match stopped {
        Some(_) => Some(options.until.map_or(reached, |u| u.min(reached))),
        None => options.until,
    };
    let discovery = discovery(
        &came,
        &onsets,
        worlds,
        (options.from, until),
        dataset.manifest.users,
        &mut notes,
    );
    let ms = |v: u64| v as f64 / 1000.0;
    Ok(LiveReport {
        format: "blastradius-live",
        dataset: options.dataset.display().to_string(),
        events_sent: sent,
        events_in_files,
        repeated_deploys: skipped
            .repeated_deploys
            .load(std::sync::atomic::Ordering::Relaxed),
        outside_slice: skipped
            .outside_slice
            .load(std::sync::atomic::Ordering::Relaxed),
        intended_seconds: intended as f64 / 1e6,
        seconds,
        events_per_second: sent as f64 / seconds.max(1e-9),
        lag_ms: Lag {
            p50: ms(lag.0.value_at_quantile(0.5)),
            p99: ms(lag.0.value_at_quantile(0.99)),
            max: ms(lag.0.max()),
            last: lag.1 as f64 / 1000.0,
        },
        stopped,
        notes,
        late_events: disorder.late_events,
        max_late_ms: disorder.max_late_us as f64 / 1000.0,
        findings,
        alarms: came.len() as u64,
        discovery,
        world: dataset.manifest.world_id(),
        findings_after_end: after_end,
        premature_findings: premature,
        unparsed_lines: unparsed.count,
        first_unparsed: unparsed.first,
        latency_ms: latency,
        scores,
        histogram,
        timeline: timeline.points(),
    })
}

/// Scores the alarms that `came` (none: nothing to say), over the slice replayed.
fn discovery(
    came: &[Received],
    onsets: &Onsets,
    worlds: Option<Result<Worlds, String>>,
    (from, until): (Option<i64>, Option<i64>),
    users: u64,
    notes: &mut Vec<String>,
) -> Vec<LiveDiscovery> {
    if came.is_empty() {
        return Vec::new();
    }
    let worlds = match worlds {
        Some(Ok(w)) => Some(w),
        Some(Err(why)) => {
            notes.push(format!("the alarms are not scored: {why}"));
            None
        }
        None => {
            notes.push(
                "the alarms are not scored: the dataset has no truth (a blind one: give --truth KEY)"
                    .to_string(),
            );
            None
        }
    };
    // False alarms per day are over the days replayed.
    let world_of = |incident: Incident| {
        let mut w = worlds.as_ref()?.of(incident)?.clone();
        w.start = from.map_or(w.start, |f| f.max(w.start));
        w.end = until.map_or(w.end, |u| u.min(w.end));
        Some(w)
    };
    if from.is_some() || until.is_some() {
        notes.push(
            "the alarms are scored over the log time replayed (the period cut to --from/--until, or to where the replay stopped): `score` of the alarms folder, over the whole period, gives other false-alarm rates".to_string(),
        );
    }
    for incident in [Incident::PhotoBug, Incident::ViewAs] {
        if let Some(onset) = world_of(incident).and_then(|w| w.onset)
            && from.is_some_and(|f| onset < f)
            && came.iter().any(|r| r.alarm.incident == incident)
        {
            notes.push(format!(
                "the {} began before --from: what followed it before --from was never sent, so times to detect still run from it across days the stream skipped, and no wall time is measured",
                incident.as_str()
            ));
        }
        if came.iter().any(|r| r.alarm.incident == incident)
            && worlds.is_some()
            && world_of(incident).is_none()
        {
            notes.push(format!(
                "alarms about the {} came, but this dataset has no such incident to score them against",
                incident.as_str()
            ));
        }
    }
    let users = match users {
        0 => u64::MAX,
        n => n,
    };
    score_all(came, onsets, users, world_of)
}

type Driven = (
    u64,
    f64,
    i64,
    (Histogram<u64>, i64),
    Option<String>,
    (u64, Unparsed),
    Disorder,
    Timeline,
    (Onsets, Vec<Received>, i64),
);

async fn accept(listener: TcpListener, timeout: Duration, what: &str) -> Result<TcpStream, Error> {
    match tokio::time::timeout(timeout, listener.accept()).await {
        Ok(Ok((stream, _))) => Ok(stream),
        Ok(Err(e)) => Err(Error::Wire(format!(
            "cannot accept the {what} connection ({e})"
        ))),
        Err(_) => Err(Error::Wire(format!(
            "no detector connected for its {what} within {} s; start it with the address printed, or raise --accept-timeout",
            timeout.as_secs()
        ))),
    }
}

async fn drive(
    options: &Options,
    merged: Merged,
    matcher: Option<Arc<Mutex<Matcher>>>,
    onsets: Onsets,
    mut on_listen: Option<Box<dyn FnOnce(SocketAddr) + Send>>,
) -> Result<Driven, Error> {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let ended = Arc::new(AtomicBool::new(false));
    let garbage = Arc::new(Mutex::new(Unparsed::default()));
    let findings = Arc::new(AtomicU64::new(0));
    let alarms = Arc::new(Alarms::default());
    let bind = |addr: &str| {
        let addr = addr.to_string();
        async move {
            TcpListener::bind(&addr)
                .await
                .map_err(|e| Error::Wire(format!("cannot listen on {addr} ({e})")))
        }
    };
    // The events' writer, and (when findings come back on the same connection) its reader.
    let mut findings_task = None;
    let mut writer: Box<dyn AsyncWrite + Unpin + Send> = match &options.target {
        Target::Listen(addr) => {
            let listener = bind(addr).await?;
            if let (Some(f), Ok(a)) = (on_listen.take(), listener.local_addr()) {
                f(a);
            }
            let stream = accept(listener, options.accept_timeout, "events").await?;
            let _ = stream.set_nodelay(true);
            let (r, w) = stream.into_split();
            findings_task = Some((Box::new(r) as Box<dyn AsyncRead + Unpin + Send>, ()));
            Box::new(w)
        }
        Target::Connect(addr) => {
            let stream = TcpStream::connect(addr)
                .await
                .map_err(|e| Error::Wire(format!("--connect {addr}: cannot connect ({e}); start the detector listening there first, or use --listen")))?;
            let _ = stream.set_nodelay(true);
            let (r, w) = stream.into_split();
            findings_task = Some((Box::new(r) as Box<dyn AsyncRead + Unpin + Send>, ()));
            Box::new(w)
        }
        Target::Stdout => Box::new(tokio::io::stdout()),
    };
    let start = Instant::now();
    let mut readers = Vec::new();
    if let Some(addr) = &options.findings {
        let listener = bind(addr).await?;
        if let (Some(f), Ok(a)) = (on_listen.take(), listener.local_addr()) {
            f(a);
        }
        let stream = accept(listener, options.accept_timeout, "findings").await?;
        readers.push(tokio::spawn(collect(
            stream,
            matcher.clone(),
            start,
            ended.clone(),
            garbage.clone(),
            findings.clone(),
            alarms.clone(),
        )));
    } else if let Some((r, ())) = findings_task.take() {
        readers.push(tokio::spawn(collect(
            r,
            matcher.clone(),
            start,
            ended.clone(),
            garbage.clone(),
            findings.clone(),
            alarms.clone(),
        )));
    }
    let (tx, mut rx) = mpsc::channel::<Chunk>(64);
    let access = merged.access;
    let (shape, format, stall) = (options.shape, options.format, options.stall);
    let producer_matcher = matcher.clone();
    let producer = tokio::task::spawn_blocking(move || {
        produce(merged, shape, format, stall, producer_matcher, onsets, tx)
    });
    let mut lag = Histogram::<u64>::new(3).expect("valid precision");
    let mut timeline = Timeline::default();
    let (mut sent, mut last_lag, mut intended) = (0u64, 0i64, 0i64);
    let mut stopped = None;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let beat = wire::heartbeat(options.format, access);
    let every = options.heartbeat.map(|every| (every, &beat[..]));
    // JSON lines may start with a heartbeat; Arrow after its schema (see `Part`).
    let mut beats: Option<(Duration, &[u8])> = match options.format {
        Format::Json => every,
        Format::Arrow => None,
    };
    let mut last_write = start;
    let patience = options.read_timeout;
    loop {
        let chunk = loop {
            let next_beat = beats.map(|(every, _)| last_write + every);
            tokio::select! {
                biased;
                c = rx.recv() => break c,
                _ = &mut ctrl_c => {
                    stopped = Some("interrupted (Ctrl-C)".to_string());
                    break None;
                }
                // The log is slow to read (or `--inject-stall`): say we are still alive.
                () = tokio::time::sleep_until(next_beat.unwrap_or(start).into()), if next_beat.is_some() => {}
            }
            // Written whole, not raced against the next chunk: half an Arrow message would
            // break the stream.
            let w = match beats {
                Some((_, beat)) => write_beat(&mut writer, beat, patience).await,
                None => Ok(Ok(())),
            };
            if let Some(why) = broken(w, sent, patience) {
                stopped = Some(why);
                break None;
            }
            last_write = Instant::now();
        };
        let Some(chunk) = chunk else { break };
        let due = start + Duration::from_micros(chunk.due.max(0) as u64);
        // Ctrl-C is heard while waiting for the send time and for a slow reader too.
        let written = tokio::select! {
            w = async {
                match beat_until(&mut writer, due, &mut last_write, beats, patience).await {
                    Ok(Ok(())) => {}
                    failed => return failed,
                }
                // The matcher learns of the chunk's events as it goes out: not when it was
                // queued (up to 64 chunks earlier, when a finding would not yet be
                // premature), nor after the write (when a fast detector's answer could
                // already be back).
                if let Some(m) = &matcher {
                    let mut m = m.lock().expect("not poisoned");
                    for (e, due) in &chunk.marks {
                        m.sent(e, *due);
                    }
                }
                alarms.reached.fetch_max(chunk.reached, Ordering::AcqRel);
                write_patiently(&mut writer, &chunk.bytes, patience).await
            } => w,
            _ = &mut ctrl_c => {
                stopped = Some("interrupted (Ctrl-C)".to_string());
                break;
            }
        };
        if let Some(why) = broken(written, sent, patience) {
            stopped = Some(why);
            break;
        }
        last_write = Instant::now();
        match chunk.part {
            Part::Open => {
                beats = every;
                continue; // no event, no lag
            }
            Part::Events => {}
            Part::Close => beats = None,
        }
        let now = start.elapsed().as_micros() as i64;
        last_lag = (now - chunk.due).max(0);
        let _ = lag.record(last_lag.max(1) as u64);
        timeline.sent(chunk.events, chunk.due, now);
        sent += chunk.events;
        intended = chunk.due;
    }
    drop(rx);
    // Bounded too: a detector that stopped reading would hold the flush forever.
    let _ = tokio::time::timeout(options.read_timeout, async {
        let _ = writer.flush().await;
        let _ = writer.shutdown().await;
    })
    .await;
    let seconds = start.elapsed().as_secs_f64();
    ended.store(true, Ordering::Relaxed);
    let (disorder, onsets) = producer.await.map_err(|e| Error::Wire(e.to_string()))??;
    // Findings still on their way: wait for the detector to finish (it closes its side), at
    // most `wait`.
    let wait = options.wait;
    for r in readers {
        let _ = tokio::time::timeout(wait, r).await;
    }
    Ok((
        sent,
        seconds,
        intended,
        (lag, last_lag),
        stopped,
        (
            findings.load(Ordering::Relaxed),
            std::mem::take(&mut *garbage.lock().expect("not poisoned")),
        ),
        disorder,
        timeline,
        (
            onsets,
            std::mem::take(&mut *alarms.came.lock().expect("not poisoned")),
            alarms.reached.load(Ordering::Acquire),
        ),
    ))
}

/// Why the replay stops after a write that ended as `written`, if it must.
fn broken(
    written: Result<std::io::Result<()>, tokio::time::error::Elapsed>,
    sent: u64,
    patience: Duration,
) -> Option<String> {
    match written {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!(
            "the detector stopped reading after {sent} events ({e})"
        )),
        Err(_) => Some(format!(
            "the detector read nothing for {} s after {sent} events (--read-timeout): it is stuck or not reading",
            patience.as_secs()
        )),
    }
}

/// Waits until `until`, writing a heartbeat whenever its interval passes without a write
/// (`last_write` tracks the last one); without `beats`, only waits.
async fn beat_until<W: tokio::io::AsyncWrite + Unpin>(
    writer: &mut W,
    until: Instant,
    last_write: &mut Instant,
    beats: Option<(Duration, &[u8])>,
    patience: Duration,
) -> Result<std::io::Result<()>, tokio::time::error::Elapsed> {
    loop {
        match beats {
            Some((every, beat)) if *last_write + every < until => {
                tokio::time::sleep_until((*last_write + every).into()).await;
                match write_beat(writer, beat, patience).await {
                    Ok(Ok(())) => *last_write = Instant::now(),
                    failed => return failed,
                }
            }
            _ => {
                tokio::time::sleep_until(until.into()).await;
                return Ok(Ok(()));
            }
        }
    }
}

/// Writes one heartbeat and flushes it (a heartbeat held in a buffer says nothing).
async fn write_beat<W: tokio::io::AsyncWrite + Unpin>(
    writer: &mut W,
    beat: &[u8],
    patience: Duration,
) -> Result<std::io::Result<()>, tokio::time::error::Elapsed> {
    match write_patiently(writer, beat, patience).await? {
        Ok(()) => tokio::time::timeout(patience, writer.flush()).await,
        Err(e) => Ok(Err(e)),
    }
}

/// Writes all of `bytes`, giving up (`Err(Elapsed)`) only when a whole `patience` passes
/// without the reader taking a single byte: a slow reader that keeps reading is waited for.
async fn write_patiently<W: tokio::io::AsyncWrite + Unpin>(
    writer: &mut W,
    mut bytes: &[u8],
    patience: Duration,
) -> Result<std::io::Result<()>, tokio::time::error::Elapsed> {
    use tokio::io::AsyncWriteExt;
    while !bytes.is_empty() {
        match tokio::time::timeout(patience, writer.write(bytes)).await? {
            Ok(0) => return Ok(Err(std::io::ErrorKind::WriteZero.into())),
            Ok(n) => bytes = &bytes[n..],
            Err(e) => return Ok(Err(e)),
        }
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::write_patiently;
    use std::time::Duration;
    use tokio::io::AsyncReadExt;

    /// A reader slower than the patience per chunk, but never idle that long, is waited for;
    /// one that reads nothing is given up on after the patience.
    #[tokio::test]
    async fn a_slow_reader_is_waited_for_and_a_stuck_one_is_not() {
        let patience = Duration::from_millis(300);
        let (mut writer, mut reader) = tokio::io::duplex(64);
        let slow = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = [0u8; 64];
            while let Ok(n) = reader.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            got.len()
        });
        let bytes = vec![7u8; 1024];
        let started = std::time::Instant::now();
        let done = write_patiently(&mut writer, &bytes, patience).await;
        assert!(matches!(done, Ok(Ok(()))), "{done:?}");
        assert!(
            started.elapsed() > patience,
            "the whole write took longer than the patience: {:?}",
            started.elapsed()
        );
        drop(writer);
        assert_eq!(slow.await.unwrap(), 1024);

        let (mut writer, _reader) = tokio::io::duplex(64);
        let started = std::time::Instant::now();
        let done = write_patiently(&mut writer, &bytes, patience).await;
        assert!(done.is_err(), "{done:?}");
        assert!(started.elapsed() >= patience);
    }
}
