# Runs `nginx -t` (or `-T`) on a private copy of nginx's config directory holding the
# candidate files, then removes the copy. Runs as root via sudo -n sh -c.
# $1 nginx command, $2 live config dir, $3 nginx.conf name, $4 and $5 the
# certificate and key to stand in for (empty: none), $6 "dump" for nginx -T
# (stdout: a line "scratch <dir>", then the dump; nginx's messages on stderr);
# then per change: kind (file|link), path relative to the config dir, link
# target, byte length. File contents arrive on stdin, concatenated in that order.
nginx_cmd=$1 live=$2 conf=$3 chain=$4 key=$5 dump=$6
shift 6
scratch=$(mktemp -d /tmp/converge-check.XXXXXX) || exit 90
trap 'rm -rf -- "$scratch"' EXIT
# The copy holds the maps file (the token): a signal must not skip its removal,
# and SIGPIPE comes with a lost connection (lib/shell.ts, EXIT_ON_SIGNALS).
trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 141' PIPE; trap 'exit 143' TERM
cp -a -- "$live/." "$scratch/" || exit 91

# Absolute references to the live tree must point at the copy, or nginx -t
# would read the live files and prove nothing.
d=$(printf '\001')
literal() { printf '%s' "$1" | sed 's/[][\.*^$]/\\&/g'; }
# replace_all FROM TO FILE...: every occurrence of the string FROM, literally.
replace_all() {
  from=$(literal "$1") to=$2
  shift 2
  sed -i "s${d}${from}${d}${to}${d}g" "$@"
}
retarget() { replace_all "$live/" "$scratch/" "$1"; }
grep -rlFZ -- "$live/" "$scratch" | xargs -0 -r sed -i "s${d}$(literal "$live/")${d}${scratch}/${d}g" || exit 92
find "$scratch" -type l | while IFS= read -r l; do
  t=$(readlink -- "$l")
  case "$t" in "$live"/*) ln -sfn -- "$scratch${t#"$live"}" "$l" ;; esac
done

while [ $# -ge 4 ]; do
  kind=$1 path=$scratch/$2 target=$3 len=$4
  shift 4
  case "$target" in "$live"/*) target="$scratch${target#"$live"}" ;; esac
  rm -rf -- "$path"
  mkdir -p -- "${path%/*}"
  if [ "$kind" = link ]; then
    ln -s -- "$target" "$path"
  else
    head -c "$len" > "$path"
    retarget "$path"
  fi
done

# No certificate yet (it is obtained later in the run): a throwaway one stands in.
if [ -n "$chain" ]; then
  mkdir -m 0700 "$scratch/.standin" &&
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
      -subj /CN=converge-standin -keyout "$scratch/.standin/key.pem" -out "$scratch/.standin/cert.pem" 2>/dev/null || exit 93
  for f in $(grep -rlF -e "$chain" -e "$key" "$scratch"); do
    replace_all "$chain" "$scratch/.standin/cert.pem" "$f"
    replace_all "$key" "$scratch/.standin/key.pem" "$f"
  done
fi

if grep -rqF -- "$live/" "$scratch"; then
  echo "the scratch copy still refers to $live" >&2
  exit 92
fi
if [ "$dump" = dump ]; then
  echo "scratch $scratch"
  eval "$nginx_cmd -T -c \"\$scratch/\$conf\""
else
  eval "$nginx_cmd -t -c \"\$scratch/\$conf\"" 2>&1
fi
