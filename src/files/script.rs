//! The one small shell program the file operations run in a container, as its own user (an
//! exec, never a host path): `sh -c SCRIPT agentdock OP PATH ARGS…`, every value an argument of
//! its own (no quoting, nothing spliced into the text). It refuses a symbolic link at every step
//! of the path, so a link the container planted cannot send a read or a write elsewhere; and
//! since it runs as the container's user, a container that swaps a directory for a link in the
//! middle only reaches what that user could reach anyway. Needs a POSIX sh and GNU coreutils and
//! findutils (Debian's, as in agentdock's images).

/// Exit code of a refusal the script explains itself (one `agentdock: …` line on stderr).
pub const REFUSED: i64 = 3;

pub const SCRIPT: &str = r#"set -u
fail() { printf 'agentdock: %s\n' "$*" >&2; exit 3; }
nolinks() {
  d=
  rest=${1#/}
  while [ -n "$rest" ]; do
    case $rest in
      */*) c=${rest%%/*}; rest=${rest#*/} ;;
      *) c=$rest; rest= ;;
    esac
    d=$d/$c
    if [ -L "$d" ]; then
      fail "$d is a symbolic link (to $(readlink -- "$d" | head -c 300)); agentdock does not follow links in a container: name the file itself"
    fi
  done
}
op=$1; p=$2
case $op in
read)
  max=$3; off=$4
  nolinks "$p"
  [ -e "$p" ] || fail "$p does not exist"
  [ -f "$p" ] || fail "$p is not a regular file"
  [ -r "$p" ] || fail "$p is not readable by the container's user"
  size=$(stat -c %s -- "$p") || exit 4
  printf '%s\n' "$size"
  if [ "$off" -gt 0 ]; then
    tail -c +"$((off + 1))" -- "$p" | head -c "$max"
  else
    head -c "$max" -- "$p"
  fi
  ;;
write)
  mkdirs=$3
  nolinks "$p"
  dir=${p%/*}
  [ -n "$dir" ] || dir=/
  if [ ! -d "$dir" ]; then
    [ "$mkdirs" = 1 ] || fail "the directory $dir does not exist (create_dirs makes it)"
    mkdir -p -- "$dir" || exit 4
    nolinks "$p"
  fi
  [ ! -d "$p" ] || fail "$p is a directory"
  [ ! -e "$p" ] || [ -f "$p" ] || fail "$p is not a regular file"
  dd of="$p" oflag=nofollow bs=65536 status=none || exit 4
  stat -c %s -- "$p"
  ;;
list)
  depth=$3; max=$4
  nolinks "$p"
  [ -e "$p" ] || fail "$p does not exist"
  [ -d "$p" ] || fail "$p is not a directory"
  find "$p" -mindepth 1 -maxdepth "$depth" -printf '%y\0%s\0%m\0%T@\0%P\0%l\0' 2>/dev/null | head -z -n "$(( (max + 1) * 6 ))"
  ;;
delete)
  recursive=$3
  case $p in
    /|/workspace|/workspace/.git|/workspace/.git/*) fail "agentdock does not delete $p" ;;
  esac
  nolinks "${p%/*}"
  [ -e "$p" ] || [ -L "$p" ] || fail "$p does not exist"
  if [ -d "$p" ] && [ ! -L "$p" ]; then
    [ "$recursive" = 1 ] || fail "$p is a directory (recursive deletes it and all it holds)"
    rm -rf --one-file-system -- "$p" || exit 4
  else
    rm -f -- "$p" || exit 4
  fi
  ;;
stat)
  nolinks "$p"
  if [ -d "$p" ]; then echo dir
  elif [ -e "$p" ]; then echo file
  elif [ -d "${p%/*}" ] || [ -z "${p%/*}" ]; then echo none
  else fail "the directory ${p%/*} does not exist"
  fi
  ;;
untar)
  nolinks "$p"
  [ -d "$p" ] || fail "$p is not a directory"
  tar -x -f - -C "$p" --no-same-owner || exit 4
  ;;
*) fail "unknown operation $op" ;;
esac
"#;

/// The argv that runs `op` on `path` with `args`.
pub fn argv(op: &str, path: &str, args: &[String]) -> Vec<String> {
    let mut v = vec!["sh".to_string(), "-c".into(), SCRIPT.into(), "agentdock".into(), op.into(), path.into()];
    v.extend(args.iter().cloned());
    v
}
