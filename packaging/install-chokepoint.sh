#!/bin/sh
# Install or remove the captureguard camera chokepoint (root).
#   packaging/install-chokepoint.sh install|uninstall
# Environment: PREFIX (default /opt/captureguard: a venv holding captureguard, and models/: the
#   built model files the daemon reads, CAPTUREGUARD_MODEL_DIR in its unit),
#   DESTDIR (stage files under this root only: no users, no systemctl/udevadm, no model build; used
#   by the tests), CAPTUREGUARD_MODEL_DIR (where `make install` built the models; also searched:
#   the sudo user's and root's ~/.cache/captureguard/models),
#   CG_VIEWERS (users to put in cgview; default: every human user, uid 1000-59999).
set -eu
ACTION=${1:-}
REPO=$(cd "$(dirname "$0")/.." && pwd)
PKG=$REPO/packaging
PREFIX=${PREFIX:-/opt/captureguard}
DESTDIR=${DESTDIR:-}
BINDIR=$PREFIX/bin
MODELDIR=$PREFIX/models
# Built model files (in no wheel), each "file:its SHA256 list:the make target that builds it": nsfwjs
# InceptionV3 as ONNX (89 MB, from npm; the photo check reads it, and since v2.10 the live check's
# second look does) and MediaPipe's two hand models (from the PyPI wheel; the live check's hand pass
# since v2.11). camerad's live check refuses to start without any of them.
MODELS="
nsfwjs_inception_v3.onnx:tools/nsfwjs/SHA256:nsfwjs-model
mediapipe_palm_detection_full.onnx:tools/hands/SHA256:hand-models
mediapipe_hand_landmark_full.onnx:tools/hands/SHA256:hand-models
"
live() { [ -z "$DESTDIR" ]; }
say() { echo "install-chokepoint: $*"; }

FILES="
udev/71-captureguard.rules:/etc/udev/rules.d/71-captureguard.rules:644
sysusers.d/captureguard.conf:/usr/lib/sysusers.d/captureguard.conf:644
systemd/captureguard-camerad.service:/etc/systemd/system/captureguard-camerad.service:644
systemd/captureguard-publish.service:/etc/systemd/user/captureguard-publish.service:644
systemd/captureguard-publish-held.service:/etc/systemd/user/captureguard-publish-held.service:644
modprobe.d/captureguard-v4l2loopback.conf:/etc/modprobe.d/captureguard-v4l2loopback.conf:644
modules-load.d/captureguard-v4l2loopback.conf:/etc/modules-load.d/captureguard-v4l2loopback.conf:644
wireplumber/0.4/main.lua.d/51-captureguard.lua:/etc/wireplumber/main.lua.d/51-captureguard.lua:644
wireplumber/0.5/wireplumber.conf.d/51-captureguard.conf:/etc/wireplumber/wireplumber.conf.d/51-captureguard.conf:644
"

if live && [ "$(id -u)" != 0 ]; then
  echo "install-chokepoint: run as root: sudo make $ACTION-chokepoint" >&2; exit 1
fi

place() {  # src dst mode: copy with @BINDIR@ filled in
  mkdir -p "$(dirname "$DESTDIR$2")"
  sed "s|@BINDIR@|$BINDIR|g; s|@MODELDIR@|$MODELDIR|g" "$PKG/$1" > "$DESTDIR$2.tmp"
  chmod "$3" "$DESTDIR$2.tmp"; mv "$DESTDIR$2.tmp" "$DESTDIR$2"
}

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

install_model() {  # file sha-list target: a checked copy of a built one into $MODELDIR, else built (not when staging)
  name=$1
  want=$(awk -v n="$name" '$2 == n {print $1}' "$REPO/$2")
  dst=$DESTDIR$MODELDIR/$name
  if [ -f "$dst" ] && [ "$(sha_of "$dst")" = "$want" ]; then return 0; fi
  dirs=${CAPTUREGUARD_MODEL_DIR:-}
  if live; then
    home=$(getent passwd "${SUDO_USER:-root}" | cut -d: -f6)
    dirs="$dirs ${home:-/nonexistent}/.cache/captureguard/models ${HOME:-/nonexistent}/.cache/captureguard/models"
  fi
  for dir in $dirs; do
    [ -f "$dir/$name" ] || continue
    if [ "$(sha_of "$dir/$name")" != "$want" ]; then say "$dir/$name does not match $2: not used"; continue; fi
    mkdir -p "$DESTDIR$MODELDIR"; cp "$dir/$name" "$dst.tmp"; chmod 644 "$dst.tmp"; mv "$dst.tmp" "$dst"
    say "copied $name from $dir into $MODELDIR"; return 0
  done
  if ! live; then say "$name not staged (none built; camerad refuses to start without it)"; return 0; fi
  say "building $name into $MODELDIR (make $3)"
  make -C "$REPO" "$3" MODEL_DIR="$MODELDIR"
}

install_models() {
  for entry in $MODELS; do
    name=${entry%%:*}; rest=${entry#*:}
    install_model "$name" "${rest%%:*}" "${rest#*:}"
  done
}

do_install() {
  if live; then
    [ -x "$BINDIR/captureguard" ] || { say "creating $PREFIX"; python3 -m venv "$PREFIX"; }
    say "installing captureguard into $PREFIX"; "$BINDIR/pip" install --quiet "$REPO"
  fi
  install_models
  for entry in $FILES; do
    src=${entry%%:*}; rest=${entry#*:}; dst=${rest%%:*}; mode=${rest#*:}
    place "$src" "$dst" "$mode"
  done
  if [ ! -e "$DESTDIR/etc/captureguard/camerad.toml" ]; then  # keep the admin's settings
    place etc/camerad.toml /etc/captureguard/camerad.toml 644
  fi
  live || { say "staged under $DESTDIR"; return 0; }
  chown root:root /etc/captureguard/camerad.toml
  if command -v systemd-sysusers >/dev/null; then systemd-sysusers /usr/lib/sysusers.d/captureguard.conf
  else
    getent group cgcam >/dev/null || groupadd --system cgcam
    getent group cgview >/dev/null || groupadd --system cgview
    id captureguard >/dev/null 2>&1 || useradd --system -g cgcam -G cgview -d /nonexistent -s /usr/sbin/nologin captureguard
  fi
  viewers=${CG_VIEWERS:-$(getent passwd | awk -F: '$3>=1000 && $3<60000 {print $1}')}
  for u in $viewers; do usermod -aG cgview "$u" && say "$u may use the guarded camera (group cgview)"; done
  if command -v udevadm >/dev/null; then
    udevadm control --reload || true
    udevadm trigger --action=change --subsystem-match=video4linux --subsystem-match=media --subsystem-match=usb || true
  fi
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable --now captureguard-camerad.service
    systemctl --global enable captureguard-publish.service captureguard-publish-held.service
  fi
  modinfo v4l2loopback >/dev/null 2>&1 || say "v4l2loopback not installed (optional: apt-get install v4l2loopback-dkms; set virtualcam = true)"
  say "done. Users log out and in once (new group), then run: captureguard doctor"
}

do_uninstall() {
  if live && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl disable --now captureguard-camerad.service || true
    systemctl --global disable captureguard-publish.service captureguard-publish-held.service || true
  fi
  for entry in $FILES; do
    rest=${entry#*:}; rm -f "$DESTDIR${rest%%:*}"
  done
  live || { say "removed the staged files under $DESTDIR (kept /etc/captureguard)"; return 0; }
  systemctl daemon-reload 2>/dev/null || true
  command -v udevadm >/dev/null && { udevadm control --reload || true; udevadm trigger --action=change --subsystem-match=video4linux --subsystem-match=media --subsystem-match=usb || true; }
  id captureguard >/dev/null 2>&1 && userdel captureguard || true
  for g in cgview cgcam; do getent group "$g" >/dev/null && groupdel "$g" || true; done
  say "removed. Kept /etc/captureguard (settings) and $PREFIX: delete them by hand if wanted"
}

case "$ACTION" in
  install) do_install ;;
  uninstall) do_uninstall ;;
  *) echo "usage: $0 install|uninstall" >&2; exit 2 ;;
esac
