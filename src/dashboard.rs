//! The dashboard loop: terminal events, engine events and a clock go into the app; the app's
//! commands go to the engine worker; the screen is drawn when something changed.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{Event, KeyEventKind};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::app::{App, Command, Route};
use crate::attach::{self, Ended, Target};
use crate::cli::{exit, Failure};
use crate::engine::Engine;
use crate::input::Input;
use crate::ops::Context;
use crate::{tui, ui, worker};

/// Frames are drawn at most this often.
const FRAME: Duration = Duration::from_millis(16);

pub async fn run(config: Option<PathBuf>, engine: Option<String>) -> Result<(), Failure> {
    let ctx = crate::cli::context(config, engine.as_deref())?;
    let mut app = App::new(ctx.config().clone(), ctx.projects.clone()).map_err(|e| Failure::usage(format!("config error: {e}")))?;
    let names: Vec<String> = ctx.engines.iter().map(|t| t.name.clone()).collect();
    app.set_engines(&names, &ctx.shown);
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(Failure::usage("the dashboard needs a terminal; for scripts use the subcommands (agentdock --help)"));
    }
    let mut term = tui::enter().map_err(|e| Failure::failed(format!("cannot take the terminal: {e}")))?;
    let result = run_loop(&mut term, app, ctx).await;
    tui::restore();
    result.map_err(|e| Failure { code: exit::FAILED, message: e.to_string() })
}

async fn run_loop(term: &mut tui::Term, mut app: App, ctx: Context) -> std::io::Result<()> {
    let size = term.size()?;
    app.on_resize(size.width, size.height);
    term.draw(|f| ui::draw(f, &app))?;
    app.dirty = false;
    tracing::info!("dashboard started");

    let session = ctx.config().session_name.clone();
    let detach = attach::detach_byte(&ctx.config().ui.detach_key).unwrap_or(0x1d);
    let (events_tx, mut events) = mpsc::channel(1024);
    let ctx = Arc::new(ctx);
    // a worker per engine in view, each on its own: one that hangs holds up none of the others
    let several = ctx.shown.len() > 1;
    let mut workers: Vec<Option<Running>> = (0..ctx.engines.len()).map(|_| None).collect();
    let (ended_tx, mut ended) = mpsc::unbounded_channel::<(usize, String)>();
    for &i in &ctx.shown {
        workers[i] = Some(start_worker(&ctx, i, several, &events_tx, &ended_tx));
    }
    let git = git_watch(&ctx, worker::Events::new(0, events_tx.clone()));
    let mut worker_failures = 0;
    let mut input = Input::start();
    let mut attach_engines: Vec<Option<Engine>> = (0..ctx.engines.len()).map(|_| None).collect();
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut last_draw = Instant::now();

    loop {
        let draw_due = tokio::time::Instant::from_std(last_draw + FRAME);
        tokio::select! {
            biased;
            ev = input.events.recv() => match ev {
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => app.on_key(k),
                Some(Ok(Event::Mouse(m))) => app.on_mouse(m),
                Some(Ok(Event::Resize(w, h))) => app.on_resize(w, h),
                Some(Ok(Event::Paste(text))) => app.on_paste(&text),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => app.quit = true,
            },
            _ = sigterm.recv() => app.quit = true,
            _ = sighup.recv() => app.quit = true,
            ev = events.recv() => match ev {
                Some((engine, e)) => {
                    app.on_engine_from(engine, e);
                    // take what else is waiting, a bounded amount, so keys stay responsive
                    for _ in 0..256 {
                        match events.try_recv() {
                            Ok((engine, e)) => app.on_engine_from(engine, e),
                            Err(_) => break,
                        }
                    }
                }
                None => app.quit = true,
            },
            Some((i, why)) = ended.recv() => {
                // a worker that panicked (the panic hook gave the terminal back): take the
                // terminal again and start a new one, a few times at most
                worker_failures += 1;
                tracing::error!(failures = worker_failures, engine = %ctx.engines[i].name, "the engine worker failed: {why}");
                if worker_failures > 3 {
                    return Err(std::io::Error::other(format!("the engine worker failed {worker_failures} times; the last: {why}")));
                }
                tui::resume(term)?;
                workers[i] = Some(start_worker(&ctx, i, several, &events_tx, &ended_tx));
                // it starts from the config: what the list shows now
                if let Some(w) = &workers[i] {
                    let _ = w.commands.send(Command::ShowUnmanaged(app.list.show_unmanaged));
                }
                app.on_engine_from(i, crate::app::EngineEvent::Disconnected { reason: "the worker is starting again".into(), retry_in_ms: 0 });
                app.last_error = Some(format!("the engine worker failed ({why}) and was started again"));
                app.dirty = true;
            }
            _ = clock.tick() => app.on_tick(),
            _ = tokio::time::sleep_until(draw_due), if app.dirty => {}
        }
        for cmd in app.take_commands() {
            match cmd {
                Command::GitNow(project) => {
                    if let Some(g) = &git {
                        let _ = g.poke.send(project);
                    }
                }
                Command::Bell => {
                    let _ = std::io::stdout().write_all(b"\x07");
                }
                Command::Notify { text, desktop } => {
                    let mut out = std::io::stdout();
                    let _ = out.write_all(&crate::domain::notify::ring("agentdock", &text, desktop)).and_then(|()| out.flush());
                }
                Command::Attach { .. } | Command::Shell { .. } => {
                    let i = match app.route(&cmd) {
                        Route::Engine(i) => i,
                        Route::All => 0,
                    };
                    let (container, project, target) = match cmd {
                        Command::Attach { container, project, session: extra } => {
                            (container, project, Target::Agent { session: extra.unwrap_or_else(|| session.clone()) })
                        }
                        Command::Shell { container, project } => (container, project, Target::Shell),
                        _ => unreachable!("attach or shell"),
                    };
                    let msg = lend_terminal(term, &mut input, &ctx.engines[i], &mut attach_engines[i], &container, &target, detach).await;
                    app.message = Some(format!("{project}: {msg}"));
                    app.dirty = true;
                }
                other => match app.route(&other) {
                    Route::Engine(i) => match workers.get(i).and_then(Option::as_ref) {
                        Some(w) => {
                            let _ = w.commands.send(other);
                        }
                        None => app.last_error = Some(format!("engine {} is not in view (--engine)", ctx.engines.get(i).map(|t| t.name.as_str()).unwrap_or("?"))),
                    },
                    Route::All => {
                        for w in workers.iter().flatten() {
                            let _ = w.commands.send(other.clone());
                        }
                    }
                },
            }
        }
        if app.quit {
            break;
        }
        if app.dirty && last_draw.elapsed() >= FRAME {
            // a resize while the terminal was lent (attach) sent no event here
            let size = term.size()?;
            if size.width != app.size.width || size.height != app.size.height {
                app.on_resize(size.width, size.height);
            }
            term.draw(|f| ui::draw(f, &app))?;
            app.dirty = false;
            last_draw = Instant::now();
        }
    }
    for w in workers.iter().flatten() {
        w.abort.abort();
    }
    tracing::info!("dashboard closed");
    Ok(())
}

/// A worker as the loop holds it: where its commands go, and how to stop it.
struct Running {
    commands: mpsc::UnboundedSender<Command>,
    abort: tokio::task::AbortHandle,
}

/// Starts engine `i`'s worker; its end (a panic) is told on `ended`.
fn start_worker(
    ctx: &Arc<Context>,
    i: usize,
    several: bool,
    events: &mpsc::Sender<worker::Tagged>,
    ended: &mpsc::UnboundedSender<(usize, String)>,
) -> Running {
    let w = worker::spawn(ctx.clone(), i, several, events.clone());
    let abort = w.task.abort_handle();
    let (task, ended) = (w.task, ended.clone());
    tokio::spawn(async move {
        let why = match task.await {
            Err(e) if e.is_panic() => panic_text(e.into_panic()),
            Err(_) => return, // aborted: the dashboard closes
            Ok(()) => "it stopped".to_string(),
        };
        let _ = ended.send((i, why));
    });
    Running { commands: w.commands, abort }
}

/// The projects' git state, read beside the engine worker: off when `ui.git_interval_secs` is
/// 0 or there are more than `ui.git_max_projects` projects.
fn git_watch(ctx: &Context, events: worker::Events) -> Option<worker::git::GitWatch> {
    let ui = &ctx.config().ui;
    // host files: the projects on this machine's engines only
    let local = |p: &&crate::domain::project::Project| p.exists && ctx.engine_of(p).is_local();
    let projects: Vec<_> = ctx
        .projects
        .iter()
        .filter(local)
        .map(|p| worker::git::Watched { id: p.id.clone(), workspace: p.path.clone(), agent_dir: crate::paths::agent_config_dir(&p.id) })
        .collect();
    if ui.git_interval_secs == 0 || projects.is_empty() || projects.len() > ui.git_max_projects {
        return None;
    }
    Some(worker::git::spawn(projects, Duration::from_secs(ui.git_interval_secs), events))
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_else(|| "a panic".into())
}

/// Gives the terminal to an attach session and takes it back, redrawing where it was.
async fn lend_terminal(
    term: &mut tui::Term,
    input: &mut Input,
    at: &crate::domain::engines::EngineTarget,
    engine: &mut Option<Engine>,
    container: &str,
    target: &Target,
    detach: u8,
) -> String {
    // no key typed from here on is the dashboard's
    input.pause();
    input.discard_pending();
    if engine.is_none() {
        match Engine::connect_to(at).await {
            Ok(e) => *engine = Some(e),
            Err(e) => {
                input.resume();
                return e.to_string();
            }
        }
    }
    let Some(engine) = engine.as_ref() else {
        input.resume();
        return "no engine".into();
    };
    tui::lend();
    let result = attach::run(engine, container, target, None, detach).await;
    let back = tui::resume(term);
    input.discard_pending();
    input.resume();
    if let Err(e) = back {
        return format!("cannot take the terminal back: {e}");
    }
    match result {
        Ok(Ended::Detached) => "detached; the session keeps running".into(),
        Ok(Ended::ContainerStopped(why)) => why,
        Err(e) => e.to_string(),
    }
}
