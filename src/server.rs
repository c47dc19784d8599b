//! Starting and stopping a whole donebot: storage, the actors, the SMTP listener, the web server
//! and the ticker, in that order; stopping in reverse.
//!
//! Shutdown (SIGTERM, or [`Server::stop`]): stop accepting (HTTP, SMTP, new ticks), let what is in
//! flight reach a durable state (the outbox finishes its current sends and records them), flush
//! sled, return. A SIGKILL instead loses nothing acknowledged: that is what the inbound log and the
//! outbox state machine are for.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr};
use anyhow::Context as _;
use bots::email::listener::{ListenerConfig, serve as serve_smtp};
use bots::email::send::{SmtpOptions, Transport};
use storage::Store;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::actors::chat::ChatActor;
use crate::actors::inbound::{InboundActor, InboundProcessor};
use crate::actors::outbox::{Drain, OutboxActor};
use crate::actors::ticker;
use crate::app::App;
use crate::clock::Clock;
use crate::config::Settings;
use crate::web::{self, ControlToken, InboundSink};

/// Where the CLI finds a running server: `DATA/control.json`, readable only by its owner.
pub const CONTROL_FILE: &str = "control.json";

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ControlInfo {
    pub pid: u32,
    pub web: String,
    pub token: String,
    /// The data directory this server holds, canonical. The CLI goes through this server only for
    /// this directory: a control file copied along with the directory (or left by an older
    /// version, without this field) never sends a command to another directory's server.
    #[serde(default)]
    pub data_dir: Option<std::path::PathBuf>,
}

/// A running donebot.
pub struct Server {
    pub app: App,
    pub web_addr: SocketAddr,
    pub smtp_addr: Option<SocketAddr>,
    /// An admin token created because the data directory had none (printed once at start).
    pub first_admin_token: Option<String>,
    shutdown: watch::Sender<bool>,
    web: actix_web::dev::ServerHandle,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    outbox: Addr<OutboxActor>,
    /// The outbox's own thread (see [`OutboxActor::start_on`]).
    outbox_thread: actix_rt::Arbiter,
    /// The thread that receives mail (the SMTP sessions and the inbound actor), and the one that
    /// processes it; stopped in this order.
    inbound_threads: [actix_rt::Arbiter; 2],
    control_path: PathBuf,
}

impl Server {
    /// Starts everything. Must run inside an actix `System`.
    pub async fn start(mut settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Server> {
        let store = Store::open(&settings.data_dir)?;
        if let Some(warning) = store.permission_warning() {
            tracing::warn!("{warning}");
        }
        let listener = std::net::TcpListener::bind(settings.web_listen)
            .with_context(|| format!("[web] listen: cannot listen on {}", settings.web_listen))?;
        let web_addr = listener.local_addr()?;
        // Links in emails must reach us: with port 0 the derived base URL gets the real port.
        if settings.web_listen.port() == 0
            && settings.base_url == format!("http://{}", settings.web_listen)
        {
            settings.base_url = format!("http://{web_addr}");
        }
        let app = App::new(store, settings, clock).context("cannot initialise the application")?;
        let settings = &app.settings;

        let first_admin_token = if app.store.token_count() == 0 {
            Some(crate::ops::create_token(
                &app.store,
                true,
                "first admin token",
                app.now(),
            )?)
        } else {
            None
        };

        let transport = Transport::new(
            settings.smtp_url.as_deref(),
            &settings.eml_dir(),
            SmtpOptions {
                timeout: settings.smtp_timeout,
                // One connection per send slot; the default (4) would cap the outbox below its
                // configured concurrency.
                pool_size: u32::try_from(settings.outbox.concurrency).unwrap_or(u32::MAX),
                ..SmtpOptions::default()
            },
        )
        .context("[email] smtp_url")?;
        let outbox_thread = actix_rt::Arbiter::new();
        let outbox = OutboxActor::start_on(
            &outbox_thread.handle(),
            app.ctx.clone(),
            app.actors.clone(),
            transport,
        );
        app.actors.set_outbox(outbox.clone());
        for team in app.store.teams()? {
            app.actors.ensure_team(team.id);
        }
        // Recovers the inbound spool first: the processor then processes what it left pending.
        let writer = app.store.start_inbound_writer()?;
        // Receipt (the SMTP sessions and the inbound actor) and processing each get a thread:
        // a `250` never waits behind the database, the team actors or the web server.
        let inbound_thread = actix_rt::Arbiter::new();
        let processing_thread = actix_rt::Arbiter::new();
        let processor = {
            let (app, actors) = (app.ctx.clone(), app.actors.clone());
            InboundProcessor::start_in_arbiter(&processing_thread.handle(), move |_| {
                InboundProcessor::new(app, actors)
            })
        };
        let inbound = {
            let app = app.ctx.clone();
            InboundActor::start_in_arbiter(&inbound_thread.handle(), move |_| {
                InboundActor::new(app, writer, processor)
            })
        };
        // Every configured chat channel, delivering to one chat actor.
        let chats = ChatActor::new(app.ctx.clone(), app.actors.clone()).start();
        app.actors.set_channels(crate::channels::start(
            &settings.channels,
            &chats.recipient(),
        )?);

        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        let smtp_addr = match settings.inbound_smtp_listen {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("[inbound_smtp] listen: cannot listen on {addr}"))?;
                let local = listener.local_addr()?;
                let mut cfg = ListenerConfig::new(settings.domain.clone(), settings.domain.clone());
                cfg.max_message_bytes = settings.inbound_max_bytes;
                cfg.max_connections = settings.inbound_max_sessions;
                cfg.max_sessions_per_ip = settings.inbound_max_sessions_per_ip;
                cfg.session_timeout = settings.inbound_session_timeout;
                let sink = inbound.clone().recipient();
                let rx = shutdown_rx.clone();
                let listener = listener.into_std()?;
                let (stopped, finished) = tokio::sync::oneshot::channel::<()>();
                inbound_thread.spawn(async move {
                    // Registered with the inbound thread's own reactor.
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => {
                            if let Err(e) = serve_smtp(listener, cfg, sink, rx).await {
                                warn!(error = %e, "inbound SMTP listener stopped");
                            }
                        }
                        Err(e) => warn!(error = %e, "inbound SMTP listener could not start"),
                    }
                    let _ = stopped.send(());
                });
                tasks.push(actix_rt::spawn(async move {
                    let _ = finished.await;
                }));
                Some(local)
            }
            None => None,
        };

        // Members found on the chat platforms by their email address (Slack), in the background.
        {
            let (ctx, actors) = (app.ctx.clone(), app.actors.clone());
            let mut stop = shutdown_rx.clone();
            let mut members = Vec::new();
            for team in app.store.teams()? {
                members.extend(app.store.members_of(team.id)?);
            }
            tasks.push(actix_rt::spawn(async move {
                tokio::select! {
                    () = crate::commands::link::by_email(&ctx, &actors, members) => {}
                    _ = stop.changed() => {}
                }
            }));
        }

        let control = random_token();
        let http = web::start(
            app.clone(),
            ControlToken(control.clone().into()),
            InboundSink(inbound.recipient()),
            app.actors.channels(),
            listener,
        )?;
        let web = http.handle();
        tasks.push(actix_rt::spawn(async move {
            if let Err(e) = http.await {
                warn!(error = %e, "web server stopped");
            }
        }));

        let control_path = settings.data_dir.join(CONTROL_FILE);
        write_control(
            &control_path,
            &ControlInfo {
                pid: std::process::id(),
                web: web_addr.to_string(),
                token: control,
                data_dir: settings.data_dir.canonicalize().ok(),
            },
        )?;

        tasks.push(actix_rt::spawn(ticker::run(
            app.ctx.clone(),
            app.actors.clone(),
            outbox.clone(),
            shutdown_rx,
        )));
        info!(web = %web_addr, smtp = %smtp_addr.map_or_else(|| "off".to_owned(), |a| a.to_string()), data = %settings.data_dir.display(), "donebot started");
        Ok(Server {
            app,
            web_addr,
            smtp_addr,
            first_admin_token,
            shutdown,
            web,
            tasks,
            outbox,
            outbox_thread,
            inbound_threads: [inbound_thread, processing_thread],
            control_path,
        })
    }

    /// Graceful stop: refuse new work, finish what is in flight, flush.
    pub async fn stop(self) {
        info!("stopping: no new connections; finishing in-flight work");
        let _ = self.shutdown.send(true);
        self.web.stop(true).await;
        if tokio::time::timeout(Duration::from_secs(30), self.outbox.send(Drain))
            .await
            .is_err()
        {
            warn!("outbox sends did not finish in 30 s; they will be retried at the next start");
        }
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        // The indexer folds in what is left of its change log, commits and lets go of the index.
        let search = self.app.search.clone();
        let _ = tokio::task::spawn_blocking(move || search.stop()).await;
        if let Err(e) = self.app.store.flush_async().await {
            warn!(error = %e, "final flush failed");
        }
        // Release the data directory: actors stop once nobody holds their addresses, dropping their
        // clones of the app and so of the store. Wait for that, briefly.
        // The outbox (drained above, or given up on) and the inbound actors stop with their
        // threads; dropping the receipt actor stops the spool writer.
        let [receipt, processing] = self.inbound_threads;
        let threads = [
            ("the outbox's thread", self.outbox_thread),
            ("the receipt thread", receipt),
            ("the processing thread", processing),
        ];
        for (name, thread) in threads {
            thread.stop();
            if tokio::task::spawn_blocking(move || thread.join())
                .await
                .is_err()
            {
                warn!("{name} panicked while stopping");
            }
        }
        self.app.actors.forget();
        drop(self.outbox);
        let released = tokio::time::timeout(Duration::from_secs(5), async {
            // The server's own two: its `App` and the actor registry in it.
            while self.app.ctx.holders() > 2 {
                tokio::task::yield_now().await;
            }
        })
        .await;
        if released.is_err() {
            warn!(
                "some actors still hold the application after 5 s; the data directory is released when the process exits"
            );
        }
        let _ = std::fs::remove_file(&self.control_path);
        info!("stopped");
    }
}

fn random_token() -> String {
    use rand::RngCore;
    let mut raw = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut raw);
    format!(
        "dbc_{}",
        data_encoding::BASE32_NOPAD
            .encode(&raw)
            .to_ascii_lowercase()
    )
}

/// Writes `control.json` without following links: a new file (`create_new`, `O_NOFOLLOW`,
/// `0600`) renamed over the old one, so a link planted at the path (or at the temporary name)
/// never makes donebot write its control token somewhere else.
fn write_control(path: &std::path::Path, info: &ControlInfo) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    let mut f = opts
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(&serde_json::to_vec(info)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn control_json_is_written_without_following_a_planted_link() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        let path = dir.path().join(CONTROL_FILE);
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let info = ControlInfo {
            web: "127.0.0.1:1".into(),
            token: "t".into(),
            pid: 1,
            data_dir: None,
        };
        write_control(&path, &info).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let back: ControlInfo = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(back.token, "t");
    }
}
