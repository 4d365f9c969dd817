#!/usr/bin/env bash
# An sshd on 127.0.0.1 for the tests of the login-node layout:
#   tests/slurm/sshd.sh up DIR PORT    keys, config and the daemon, all under DIR
#   tests/slurm/sshd.sh down DIR
# The client key is DIR/id_ed25519; the daemon takes only that key, for
# the user running the script (root in CI), and listens on 127.0.0.1 only.
set -euo pipefail

cmd=${1:-}; DIR=${2:-}; PORT=${3:-}
[ -n "$cmd" ] && [ -n "$DIR" ] || { echo "usage: $0 up DIR PORT | down DIR" >&2; exit 2; }

install() {
  if [ -x /usr/sbin/sshd ] && command -v ssh >/dev/null && command -v rsync >/dev/null && command -v scp >/dev/null; then
    return
  fi
  echo "sshd: installing openssh-server, openssh-client and rsync" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq openssh-server openssh-client rsync >/dev/null
}

case "$cmd" in
  up)
    [ -n "$PORT" ] || { echo "usage: $0 up DIR PORT" >&2; exit 2; }
    install
    mkdir -p "$DIR" /run/sshd
    chmod 700 "$DIR"
    [ -f "$DIR/host_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$DIR/host_key"
    [ -f "$DIR/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$DIR/id_ed25519"
    cp "$DIR/id_ed25519.pub" "$DIR/authorized_keys"
    chmod 600 "$DIR/authorized_keys"
    cat > "$DIR/sshd_config" <<CONF
ListenAddress 127.0.0.1
Port $PORT
HostKey $DIR/host_key
PidFile $DIR/sshd.pid
AuthorizedKeysFile $DIR/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
Subsystem sftp internal-sftp
LogLevel ERROR
CONF
    /usr/sbin/sshd -f "$DIR/sshd_config" -E "$DIR/sshd.log"
    for _ in $(seq 50); do
      if ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
           -i "$DIR/id_ed25519" -p "$PORT" "$(id -un)@127.0.0.1" true 2>/dev/null; then
        exit 0
      fi
      sleep 0.1
    done
    echo "sshd: cannot log in on 127.0.0.1:$PORT" >&2; cat "$DIR/sshd.log" >&2 || true; exit 1
    ;;
  down)
    if [ -f "$DIR/sshd.pid" ]; then kill "$(cat "$DIR/sshd.pid")" 2>/dev/null || true; fi
    ;;
  *) echo "usage: $0 up DIR PORT | down DIR" >&2; exit 2 ;;
esac
