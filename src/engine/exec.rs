//! Commands in a container, as the container user in /workspace: an argv as given, or a shell
//! line (`bash -c LINE`); stdout and stderr kept apart, streamed as they come or captured into
//! capped buffers.

use std::pin::Pin;

use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::container::LogOutput;
use futures_util::{Stream, StreamExt};
use serde::Serialize;

use super::{Engine, EngineError};
use crate::domain::output::ByteRing;

#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// `uid:gid` or user name; None for the container's user.
    pub user: Option<String>,
    pub workdir: String,
    /// Seconds after which the command is killed (0: never). Exit code 124 then.
    pub timeout_secs: u64,
    /// Bytes kept per stream when captured.
    pub cap_bytes: usize,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions { user: None, workdir: "/workspace".into(), timeout_secs: 0, cap_bytes: 10 * 1024 * 1024 }
    }
}

impl ExecOptions {
    /// For short internal probes: 15 s, 64 KiB.
    pub fn quick() -> Self {
        ExecOptions { timeout_secs: 15, cap_bytes: 64 * 1024, ..Default::default() }
    }
}

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecCommand {
    /// A line for `bash -c`.
    Shell(String),
    /// Program and arguments, each reaching the program as given (as `docker exec`).
    Argv(Vec<String>),
}

impl From<&str> for ExecCommand {
    fn from(line: &str) -> Self {
        ExecCommand::Shell(line.to_string())
    }
}

impl From<&String> for ExecCommand {
    fn from(line: &String) -> Self {
        ExecCommand::Shell(line.clone())
    }
}

/// One piece of output as it arrives.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecChunk {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
}

type RawOutput = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

/// Output as it arrives: of a command, or of a container's log.
pub struct OutputStream {
    engine: Engine,
    output: RawOutput,
}

impl OutputStream {
    pub(crate) fn new(engine: Engine, output: RawOutput) -> Self {
        OutputStream { engine, output }
    }

    /// The next piece of output; None when the stream has ended.
    pub async fn next(&mut self) -> Option<Result<ExecChunk, EngineError>> {
        loop {
            match self.output.next().await? {
                Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                    return Some(Ok(ExecChunk::Stdout(message.to_vec())))
                }
                Ok(LogOutput::StdErr { message }) => return Some(Ok(ExecChunk::Stderr(message.to_vec()))),
                Ok(LogOutput::StdIn { .. }) => continue,
                Err(e) => return Some(Err(self.engine.err(e))),
            }
        }
    }
}

/// A running command's output and, at its end, its exit code.
pub struct ExecStream {
    pub exec_id: String,
    pub output: OutputStream,
}

impl ExecStream {
    pub async fn next(&mut self) -> Option<Result<ExecChunk, EngineError>> {
        self.output.next().await
    }

    /// The exit code, once the output has ended. (The future owns what it needs, so it can
    /// be awaited in a spawned task while the stream is still borrowed.)
    pub fn exit_code(&self) -> impl std::future::Future<Output = Result<i64, EngineError>> + Send + 'static {
        let engine = self.output.engine.clone();
        let exec_id = self.exec_id.clone();
        async move {
            // The engine may record the code a moment after the stream closes.
            for _ in 0..50 {
                let info = engine.docker.inspect_exec(&exec_id).await.map_err(|e| engine.err(e))?;
                if info.running != Some(true) {
                    return Ok(info.exit_code.unwrap_or(-1));
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(EngineError::Failed("the command's exit code did not come".into()))
        }
    }
}

/// An interactive TTY session in a container (attach, shell).
pub struct TtySession {
    pub exec_id: String,
    pub output: OutputStream,
    pub input: Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
}

/// A command's captured result.
#[derive(Debug, Clone, Serialize)]
pub struct ExecOutput {
    #[serde(serialize_with = "lossy")]
    pub stdout: Vec<u8>,
    #[serde(serialize_with = "lossy")]
    pub stderr: Vec<u8>,
    pub exit_code: i64,
    /// Bytes cut from the start of stdout / stderr to stay under the cap.
    pub stdout_dropped: u64,
    pub stderr_dropped: u64,
}

fn lossy<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(b))
}

/// The argv that runs `cmd` (a shell line under bash), killed after the timeout when there is
/// one. (`timeout` takes the first word after the duration as the program, even one that
/// starts with `-`.)
fn argv(cmd: ExecCommand, timeout_secs: u64) -> Vec<String> {
    let mut v = Vec::new();
    if timeout_secs > 0 {
        v.extend(["timeout".into(), "-k".into(), "5".into(), format!("{timeout_secs}")]);
    }
    match cmd {
        ExecCommand::Shell(line) => v.extend(["bash".into(), "-c".into(), line]),
        ExecCommand::Argv(args) => v.extend(args),
    }
    v
}

impl Engine {
    /// Starts `cmd` (a shell line, or an [`ExecCommand`]) and returns its output stream.
    pub async fn exec_stream(&self, container: &str, cmd: impl Into<ExecCommand>, opts: &ExecOptions) -> Result<ExecStream, EngineError> {
        let cmd = cmd.into();
        if matches!(&cmd, ExecCommand::Argv(a) if a.is_empty()) {
            return Err(EngineError::Failed("no command to run".into()));
        }
        let (exec_id, output, _) =
            self.start_attached(container, argv(cmd, opts.timeout_secs), opts.user.clone(), &opts.workdir, None, false).await?;
        Ok(ExecStream { exec_id, output })
    }

    /// Runs the program `args` with `input` on its stdin (closed at its end, so the program
    /// reads to an end), to the program's end; output captured as [`Engine::exec_capture`].
    pub async fn exec_with_input(
        &self,
        container: &str,
        args: Vec<String>,
        opts: &ExecOptions,
        mut input: impl tokio::io::AsyncRead + Send + Unpin + 'static,
    ) -> Result<ExecOutput, EngineError> {
        use tokio::io::AsyncWriteExt;
        if args.is_empty() {
            return Err(EngineError::Failed("no command to run".into()));
        }
        let cmd = argv(ExecCommand::Argv(args), opts.timeout_secs);
        let (exec_id, output, mut stdin) = self.start_attached(container, cmd, opts.user.clone(), &opts.workdir, None, true).await?;
        // written beside the reading: a program that answers before it has read all of its
        // input must not block on a full pipe
        let writer = tokio::spawn(async move {
            let copied = tokio::io::copy(&mut input, &mut stdin).await;
            let closed = stdin.shutdown().await;
            copied.map(|_| ()).and(closed)
        });
        let mut stream = ExecStream { exec_id, output };
        let captured = capture(&mut stream, opts.cap_bytes).await;
        // a program that ended without reading everything leaves the writer stuck: stop it
        writer.abort();
        let (out, err) = captured?;
        let exit_code = stream.exit_code().await?;
        Ok(ExecOutput { stdout_dropped: out.dropped(), stderr_dropped: err.dropped(), stdout: out.into_bytes(), stderr: err.into_bytes(), exit_code })
    }

    /// `path` in the container as a tar stream, read by the engine (its archive API: the
    /// engine resolves the path inside the container's own root).
    pub fn archive(&self, container: &str, path: &str) -> impl futures_util::Stream<Item = Result<Vec<u8>, EngineError>> + Send + 'static {
        let opts = bollard::query_parameters::DownloadFromContainerOptionsBuilder::default().path(path).build();
        let engine = self.clone();
        self.docker.download_from_container(container, Some(opts)).map(move |r| r.map(|b| b.to_vec()).map_err(|e| engine.err(e)))
    }

    /// Creates and starts an exec with its output attached; with `tty_env`, a TTY with stdin
    /// attached and that environment.
    async fn start_attached(
        &self,
        container: &str,
        cmd: Vec<String>,
        user: Option<String>,
        workdir: &str,
        tty_env: Option<Vec<String>>,
        stdin: bool,
    ) -> Result<(String, OutputStream, Pin<Box<dyn tokio::io::AsyncWrite + Send>>), EngineError> {
        let tty = tty_env.is_some();
        let create = CreateExecOptions::<String> {
            cmd: Some(cmd),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            attach_stdin: Some(tty || stdin),
            tty: Some(tty),
            env: tty_env,
            user,
            working_dir: Some(workdir.to_string()),
            ..Default::default()
        };
        let exec = self.docker.create_exec(container, create).await.map_err(|e| self.err(e))?;
        let started = self
            .docker
            .start_exec(&exec.id, Some(StartExecOptions { detach: false, tty, output_capacity: None }))
            .await
            .map_err(|e| self.err(e))?;
        match started {
            StartExecResults::Attached { output, input } => Ok((exec.id, OutputStream::new(self.clone(), output), input)),
            StartExecResults::Detached => Err(EngineError::Failed("exec started detached".into())),
        }
    }

    /// Starts `argv` with a TTY, stdin attached, as `user` in `workdir`.
    pub async fn exec_tty(
        &self,
        container: &str,
        argv: Vec<String>,
        user: Option<String>,
        workdir: &str,
        env: Vec<String>,
    ) -> Result<TtySession, EngineError> {
        let (exec_id, output, input) = self.start_attached(container, argv, user, workdir, Some(env), false).await?;
        Ok(TtySession { exec_id, output, input })
    }

    /// Tells a TTY session its window size.
    pub async fn resize_exec(&self, exec_id: &str, width: u16, height: u16) -> Result<(), EngineError> {
        let opts = bollard::query_parameters::ResizeExecOptions { w: i32::from(width), h: i32::from(height) };
        self.docker.resize_exec(exec_id, opts).await.map_err(|e| self.err(e))
    }

    /// Runs `cmd` to its end; each stream keeps its newest `opts.cap_bytes` bytes.
    pub async fn exec_capture(&self, container: &str, cmd: impl Into<ExecCommand>, opts: &ExecOptions) -> Result<ExecOutput, EngineError> {
        let mut stream = self.exec_stream(container, cmd, opts).await?;
        let (out, err) = capture(&mut stream, opts.cap_bytes).await?;
        let exit_code = stream.exit_code().await?;
        Ok(ExecOutput {
            stdout_dropped: out.dropped(),
            stderr_dropped: err.dropped(),
            stdout: out.into_bytes(),
            stderr: err.into_bytes(),
            exit_code,
        })
    }
}

/// Both streams of a command to their end, each keeping its newest `cap` bytes.
async fn capture(stream: &mut ExecStream, cap: usize) -> Result<(ByteRing, ByteRing), EngineError> {
    let mut out = ByteRing::new(cap);
    let mut err = ByteRing::new(cap);
    while let Some(chunk) = stream.next().await {
        match chunk? {
            ExecChunk::Stdout(b) => out.push(&b),
            ExecChunk::Stderr(b) => err.push(&b),
        }
    }
    Ok((out, err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_wraps_timeout() {
        assert_eq!(argv("echo hi".into(), 0), ["bash", "-c", "echo hi"]);
        assert_eq!(argv("x".into(), 9), ["timeout", "-k", "5", "9", "bash", "-c", "x"]);
    }

    #[test]
    fn an_argv_goes_as_given() {
        let a = |v: &[&str]| ExecCommand::Argv(v.iter().map(|s| s.to_string()).collect());
        assert_eq!(argv(a(&["sh", "-c", "echo out; exit 3"]), 0), ["sh", "-c", "echo out; exit 3"]);
        assert_eq!(argv(a(&["printf", "%s\n", "a b", "'c'"]), 5), ["timeout", "-k", "5", "5", "printf", "%s\n", "a b", "'c'"]);
    }
}
