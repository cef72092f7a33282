//! The `framegate` binary: parse the command line, wire the parts, run.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;
use framegate::config::{CatalogArgs, Cli, Command, DemoArgs, IngestArgs, LogFormat, ServeArgs, SignArgs};
use framegate::dicom::{Index, describe};
use framegate::key::ObjectKey;
use framegate::store::Store;
use framegate::store::fs::FsStore;
use framegate::token::Keyring;
use framegate::{State, sample};
use tokio::net::TcpListener;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    library_backtraces_off();
    let cli = Cli::parse();
    let _flush_on_exit = match logging(cli.log_format, &cli.log) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("framegate: cannot start logging: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("framegate: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Turns off backtraces in library errors unless `RUST_LIB_BACKTRACE` asks for them; panics
/// keep theirs under `RUST_BACKTRACE`. A header is parsed up to the end of the bytes read, so
/// dicom-rs meets the end of its input on every header, and with `RUST_BACKTRACE=1` (common in
/// containers) each of those errors captured a backtrace: a third of the time of indexing a
/// catalogued study. The benches that run framegate in-process do the same.
fn library_backtraces_off() {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: called first in `main`, before any other thread exists to read the environment.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
}

/// Log lines go to stderr in batches from a thread of their own ([`framegate::logs`]), so a
/// slow terminal or pipe never stalls a request; the guard writes the last ones on exit.
fn logging(format: LogFormat, filter: &str) -> Result<framegate::logs::Guard> {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "info".into());
    let (writer, guard) = framegate::logs::batched(std::io::stderr(), LOG_BUFFER_BYTES)?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
    Ok(guard)
}

/// The access log's writer: stdout for `-`, else the file, appended to (created 0600: it says
/// who opened what).
fn audit_output(path: &std::path::Path) -> Result<(framegate::logs::BatchWriter, framegate::logs::Guard)> {
    use std::os::unix::fs::OpenOptionsExt;
    if path.as_os_str() == "-" {
        return Ok(framegate::logs::batched(std::io::stdout(), LOG_BUFFER_BYTES)?);
    }
    let file = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path).map_err(|e| format!("audit log {}: {e}", path.display()))?;
    Ok(framegate::logs::batched(file, LOG_BUFFER_BYTES)?)
}

/// Log lines held while stderr is slower than they come: about 50,000 request lines.
const LOG_BUFFER_BYTES: usize = 8 << 20;

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Keygen => {
            println!("{}", Keyring::generate_line()?);
            Ok(())
        }
        Command::Sign(args) => sign(&args),
        command => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let result = runtime.block_on(async {
                match command {
                    Command::Serve(args) => serve(args).await,
                    Command::Inspect { file } => inspect(&file).await,
                    Command::Demo(args) => demo(args).await,
                    Command::Ingest(args) => ingest(args).await,
                    Command::Catalog(args) => catalog(args).await,
                    Command::Keygen | Command::Sign(_) => Ok(()),
                }
            });
            // The drain has had its grace; a blocking thread stuck in a read must not hold the
            // process after it, as dropping the runtime would.
            runtime.shutdown_timeout(std::time::Duration::from_millis(500));
            result
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn sign(args: &SignArgs) -> Result<()> {
    let keys = Keyring::load(&args.keys_file)?;
    let scope = ObjectKey::parse_plain(args.scope.trim_matches('/')).map_err(|e| format!("scope {:?}: {e}", args.scope))?;
    println!("{}", keys.sign_for(args.purpose, &scope, unix_now() + args.ttl));
    Ok(())
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
    tracing::info!("shutting down");
}

async fn serve(args: ServeArgs) -> Result<()> {
    let plan = args.plan()?;
    let store = plan.store.open().await?;
    let mut settings = plan.settings;
    // Kept until the server stops, so the last access lines are written.
    let _audit_guard = match &args.tuning.audit_log {
        Some(path) => {
            let (writer, guard) = audit_output(path)?;
            settings.audit = Some(framegate::audit::AuditLog::new(writer));
            Some(guard)
        }
        None => None,
    };
    let state = Arc::new(State::new(plan.keys, store, settings));
    let listener = TcpListener::bind(args.listen).await.map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    if let Some(address) = args.tuning.metrics_listen {
        let metrics = TcpListener::bind(address).await.map_err(|e| format!("cannot listen on {address}: {e}"))?;
        tracing::info!(address = %metrics.local_addr()?, "serving metrics");
        tokio::spawn(framegate::server::run_metrics(metrics, state.clone(), shutdown_signal()));
    }
    tracing::info!(address = %listener.local_addr()?, "serving");
    framegate::run(listener, state, shutdown_signal()).await?;
    Ok(())
}

async fn inspect(file: &std::path::Path) -> Result<()> {
    let parent = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let name = file.file_name().and_then(|n| n.to_str()).ok_or("file name is not UTF-8")?;
    let store = FsStore::new(parent)?;
    let key = ObjectKey::parse_plain(name)?;
    let meta = store.head(&key).await?;
    let index = Index::load(&store, &key, &meta, &Default::default(), &framegate::pool::RenderPool::new(1, 0, framegate::Settings::default().render_memory)).await?;
    println!("{}", serde_json::to_string_pretty(&describe::inspect(&index))?);
    Ok(())
}

async fn demo(args: DemoArgs) -> Result<()> {
    let written = sample::write_demo(&args.dir)?;
    let keys = Keyring::parse(&Keyring::generate_line()?)?;
    let listener = match TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        // Port taken: any free port will do for a demo.
        Err(_) => TcpListener::bind((args.listen.ip(), 0)).await?,
    };
    let base = format!("http://{}", listener.local_addr()?);
    let expires = unix_now() + args.ttl;
    println!("framegate demo: sample data in {}", args.dir.display());
    for line in written.urls(&keys, expires) {
        println!("  {}: {base}{}", line.0, line.1);
    }
    println!("URLs expire in {} s. Ctrl-C stops the server.", args.ttl);
    let store = FsStore::new(&args.dir)?;
    let state = Arc::new(State::new(keys, Arc::new(store), args.tuning.settings()?));
    framegate::run(listener, state, shutdown_signal()).await?;
    Ok(())
}

async fn ingest(args: IngestArgs) -> Result<()> {
    let plan = args.plan()?;
    let (sources, destination) = plan.open().await?;
    let pseudonyms = framegate::deid::Pseudonyms::new(plan.pseudonym_secret);
    let progress = Arc::new(Bar::new());
    let manifest = framegate::ingest::run(sources, destination, pseudonyms, plan.options, progress.clone()).await?;
    progress.bar.finish_and_clear();
    if let Some(path) = &args.manifest {
        std::fs::write(path, serde_json::to_vec_pretty(&manifest)?).map_err(|e| format!("manifest {path:?}: {e}"))?;
    }
    eprintln!("framegate ingest: {}", manifest.summary());
    if manifest.totals.failed > 0 {
        return Err(format!("{} files could not be ingested: the manifest says why", manifest.totals.failed).into());
    }
    Ok(())
}

async fn catalog(args: CatalogArgs) -> Result<()> {
    let (store, roots) = args.plan()?.open().await?;
    let progress = Bar::new();
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} studies {elapsed}") {
        progress.bar.set_style(style);
    }
    let pool = framegate::pool::RenderPool::new(2, 64, 1 << 30);
    let limits = framegate::dicom::Limits::default();
    let (mut studies, mut objects, mut failed) = (0, 0, 0);
    for root in &roots {
        for (folder, result) in framegate::catalog::backfill(store.as_ref(), root, args.shard.unwrap_or_default(), args.jobs, &limits, &pool, &progress).await? {
            match result {
                Ok(built) => (studies, objects) = (studies + usize::from(built.catalogued > 0), objects + built.catalogued),
                Err(e) => {
                    failed += 1;
                    progress.bar.suspend(|| eprintln!("framegate catalog: {}: {e}", folder.as_str()));
                }
            }
        }
    }
    progress.bar.finish_and_clear();
    eprintln!("framegate catalog: {studies} studies catalogued, {objects} objects in them, {failed} failed");
    if failed > 0 {
        return Err(format!("{failed} catalogs could not be written").into());
    }
    Ok(())
}

/// The ingest progress bar: files done of files found, and bytes taken in. indicatif draws it
/// only when stderr is a terminal.
struct Bar {
    bar: indicatif::ProgressBar,
    bytes: std::sync::atomic::AtomicU64,
}

impl Bar {
    fn new() -> Self {
        let bar = indicatif::ProgressBar::new(0);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} files, {msg} {elapsed}") {
            bar.set_style(style);
        }
        Bar { bar, bytes: 0.into() }
    }
}

impl framegate::ingest::Progress for Bar {
    fn found(&self, entries: u64) {
        self.bar.inc_length(entries);
    }

    fn done(&self, bytes: u64) {
        let total = self.bytes.fetch_add(bytes, std::sync::atomic::Ordering::Relaxed) + bytes;
        self.bar.set_message(format!("{}", indicatif::HumanBytes(total)));
        self.bar.inc(1);
    }
}
