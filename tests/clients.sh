#!/usr/bin/env bash
# Script test: real S3 command-line clients (the aws cli, v2 from Debian and any v1 first on PATH,
# rclone, s3cmd, curl) against a real `minicloud serve` process. Prints one line per check and a
# closing "N passed, N failed" line; exits non-zero if any check failed.
set -u
cd "$(dirname "$0")/.."
T=$(mktemp -d /tmp/minicloud-clients.XXXXXX)
PID=""
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
unset AWS_CA_BUNDLE AWS_PROFILE
export MINICLOUD_ROOT_ACCESS_KEY=clientsroot MINICLOUD_ROOT_SECRET_KEY=clients-secret-0123456789
export AWS_ACCESS_KEY_ID=$MINICLOUD_ROOT_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$MINICLOUD_ROOT_SECRET_KEY
export AWS_DEFAULT_REGION=us-east-1 AWS_PAGER="" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

go build -o "$T/minicloud" ./cmd/minicloud || { echo "build failed"; exit 1; }
PORT=$((20000 + RANDOM % 20000))
E=http://127.0.0.1:$PORT
"$T/minicloud" serve --data "$T/data" --s3 127.0.0.1:$PORT --log-level warn >"$T/serve.log" 2>&1 &
PID=$!
for i in $(seq 1 100); do curl -sf "$E/_minicloud/health" >/dev/null && break; sleep 0.1; done

PASS=0 FAIL=0
check() { # check "what" command...
  local what=$1; shift
  if "$@" >"$T/last.log" 2>&1; then PASS=$((PASS + 1)); echo "ok    $what"
  else FAIL=$((FAIL + 1)); echo "FAIL  $what"; sed 's/^/      /' "$T/last.log" | tail -n 5; fi
}

head -c 3000 /dev/urandom >"$T/small"
head -c $((50 << 20)) /dev/urandom >"$T/big"
mkdir -p "$T/tree/a/b" && for i in $(seq 1 25); do head -c $((i * 1500)) /dev/urandom >"$T/tree/a/f$i"; done
echo deep >"$T/tree/a/b/deep.txt"; echo "sp ace" >"$T/tree/a/with space+plus.txt"

# Run the aws checks with every aws cli this machine has: Debian's v2 and a pip v1 if it comes first.
AWS_BINS=()
[ -x /usr/bin/aws ] && AWS_BINS+=(/usr/bin/aws)
first=$(command -v aws || true)
[ -n "$first" ] && [ "$first" != /usr/bin/aws ] && AWS_BINS+=("$first")
[ ${#AWS_BINS[@]} -gt 0 ] || { echo "no aws cli installed"; exit 1; }

for AWS in "${AWS_BINS[@]}"; do
  V=$("$AWS" --version 2>&1 | cut -d' ' -f1)
  B=cli-$(echo "$V" | tr -dc 'a-z0-9' | tail -c 12)
  a() { "$AWS" --endpoint-url "$E" "$@"; }
  check "$V: mb" a s3 mb "s3://$B"
  check "$V: cp small up/down byte-identical" bash -c "'$AWS' --endpoint-url $E s3 cp '$T/small' s3://$B/dir/small && '$AWS' --endpoint-url $E s3 cp s3://$B/dir/small '$T/small.$B' && cmp '$T/small' '$T/small.$B'"
  check "$V: 50 MiB multipart up/down" bash -c "'$AWS' --endpoint-url $E s3 cp '$T/big' s3://$B/big && '$AWS' --endpoint-url $E s3 cp s3://$B/big '$T/big.$B' && cmp '$T/big' '$T/big.$B'"
  check "$V: multipart ETag is md5-N" bash -c "'$AWS' --endpoint-url $E s3api head-object --bucket $B --key big | grep -Eq 'ETag.*[0-9a-f]{32}-[0-9]+'"
  check "$V: ls shows PRE for a prefix" bash -c "'$AWS' --endpoint-url $E s3 ls s3://$B/ | grep -q 'PRE dir/'"
  check "$V: sync a tree up" a s3 sync "$T/tree" "s3://$B/tree"
  check "$V: ls --recursive counts the tree" bash -c "[ \$('$AWS' --endpoint-url $E s3 ls --recursive s3://$B/tree/ | wc -l) = 27 ]"
  check "$V: sync the tree back, identical" bash -c "'$AWS' --endpoint-url $E s3 sync s3://$B/tree '$T/back.$B' && diff -r '$T/tree' '$T/back.$B'"
  check "$V: metadata and content-type kept" bash -c "'$AWS' --endpoint-url $E s3api put-object --bucket $B --key m --body '$T/small' --metadata color=blue --content-type text/x-test --cache-control max-age=60 >/dev/null && '$AWS' --endpoint-url $E s3api head-object --bucket $B --key m > '$T/h.$B' && grep -q '\"color\": \"blue\"' '$T/h.$B' && grep -q text/x-test '$T/h.$B' && grep -q max-age=60 '$T/h.$B'"
  check "$V: range GET" bash -c "'$AWS' --endpoint-url $E s3api get-object --bucket $B --key dir/small --range bytes=100-199 '$T/r.$B' >/dev/null && cmp <(head -c 200 '$T/small' | tail -c 100) '$T/r.$B'"
  check "$V: presign + curl" bash -c "curl -sf \"\$('$AWS' --endpoint-url $E s3 presign s3://$B/dir/small --expires-in 60)\" -o '$T/p.$B' && cmp '$T/small' '$T/p.$B'"
  check "$V: missing key is NoSuchKey" bash -c "'$AWS' --endpoint-url $E s3api get-object --bucket $B --key nope '$T/x' 2>&1 | grep -q NoSuchKey"
  check "$V: wrong secret is SignatureDoesNotMatch" bash -c "AWS_SECRET_ACCESS_KEY=wrong '$AWS' --endpoint-url $E s3 ls s3://$B 2>&1 | grep -q SignatureDoesNotMatch"
  check "$V: unknown key is InvalidAccessKeyId" bash -c "AWS_ACCESS_KEY_ID=nobody '$AWS' --endpoint-url $E s3 ls s3://$B 2>&1 | grep -q InvalidAccessKeyId"
  check "$V: BucketNotEmpty" bash -c "'$AWS' --endpoint-url $E s3api delete-bucket --bucket $B 2>&1 | grep -q BucketNotEmpty"
  check "$V: copy-object" bash -c "'$AWS' --endpoint-url $E s3api copy-object --bucket $B --key copied --copy-source $B/dir/small >/dev/null && '$AWS' --endpoint-url $E s3 cp s3://$B/copied '$T/c.$B' && cmp '$T/small' '$T/c.$B'"
  check "$V: tagging" bash -c "'$AWS' --endpoint-url $E s3api put-object-tagging --bucket $B --key copied --tagging 'TagSet=[{Key=team,Value=edge}]' && '$AWS' --endpoint-url $E s3api get-object-tagging --bucket $B --key copied | grep -q edge"
  check "$V: delete-objects" bash -c "'$AWS' --endpoint-url $E s3api delete-objects --bucket $B --delete '{\"Objects\":[{\"Key\":\"copied\"},{\"Key\":\"m\"}]}' >/dev/null && ! '$AWS' --endpoint-url $E s3api head-object --bucket $B --key copied 2>/dev/null"
  check "$V: versioning keeps versions" bash -c "'$AWS' --endpoint-url $E s3api put-bucket-versioning --bucket $B --versioning-configuration Status=Enabled && '$AWS' --endpoint-url $E s3 cp '$T/small' s3://$B/v && '$AWS' --endpoint-url $E s3 cp '$T/tree/a/f1' s3://$B/v && [ \$('$AWS' --endpoint-url $E s3api list-object-versions --bucket $B --prefix v --query 'length(Versions)') = 2 ]"
  check "$V: CORS round trip" bash -c "'$AWS' --endpoint-url $E s3api put-bucket-cors --bucket $B --cors-configuration '{\"CORSRules\":[{\"AllowedOrigins\":[\"https://app.example\"],\"AllowedMethods\":[\"GET\",\"PUT\"],\"AllowedHeaders\":[\"*\"]}]}' && '$AWS' --endpoint-url $E s3api get-bucket-cors --bucket $B | grep -q app.example"
  check "$V: CORS preflight" bash -c "curl -s -o /dev/null -w '%{http_code}' -X OPTIONS -H 'Origin: https://app.example' -H 'Access-Control-Request-Method: PUT' $E/$B/x | grep -q 200"
  check "$V: rm --recursive" bash -c "'$AWS' --endpoint-url $E s3 rm --recursive s3://$B/tree && [ -z \"\$('$AWS' --endpoint-url $E s3 ls s3://$B/tree/)\" ]"
done

check "unsigned request refused with 403" bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $E/${B}/dir/small)\" = 403 ]"

export RCLONE_CONFIG_MC_TYPE=s3 RCLONE_CONFIG_MC_PROVIDER=Other RCLONE_CONFIG_MC_ENDPOINT=$E
export RCLONE_CONFIG_MC_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID RCLONE_CONFIG_MC_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
check "rclone mkdir" rclone mkdir mc:rclone-b
check "rclone sync up + check" bash -c "rclone sync '$T/tree' mc:rclone-b/tree && rclone check '$T/tree' mc:rclone-b/tree"
check "rclone sync down, identical" bash -c "rclone sync mc:rclone-b/tree '$T/rback' && diff -r '$T/tree' '$T/rback'"
check "rclone sync up after a local delete removes it remotely" bash -c "rm '$T/tree/a/f3' && rclone sync '$T/tree' mc:rclone-b/tree && ! rclone lsf mc:rclone-b/tree/a | grep -qx f3"
check "rclone 50 MiB copy + check" bash -c "mkdir -p '$T/bigdir' && cp '$T/big' '$T/bigdir/' && rclone copy '$T/bigdir' mc:rclone-b/big && rclone check '$T/bigdir' mc:rclone-b/big"

S3CMD=(s3cmd --access_key="$AWS_ACCESS_KEY_ID" --secret_key="$AWS_SECRET_ACCESS_KEY" --host=127.0.0.1:$PORT --host-bucket=127.0.0.1:$PORT --no-ssl --region=us-east-1)
check "s3cmd mb" "${S3CMD[@]}" mb s3://s3cmd-b
check "s3cmd put/get" bash -c "$(printf '%q ' "${S3CMD[@]}") put '$T/small' s3://s3cmd-b/s && $(printf '%q ' "${S3CMD[@]}") get --force s3://s3cmd-b/s '$T/s3cmd.out' && cmp '$T/small' '$T/s3cmd.out'"
check "s3cmd multipart put (15 MiB chunks)" bash -c "$(printf '%q ' "${S3CMD[@]}") put --multipart-chunk-size-mb=15 '$T/big' s3://s3cmd-b/big && $(printf '%q ' "${S3CMD[@]}") get --force s3://s3cmd-b/big '$T/s3cmd.big' && cmp '$T/big' '$T/s3cmd.big'"
check "s3cmd ls" bash -c "$(printf '%q ' "${S3CMD[@]}") ls s3://s3cmd-b/ | grep -q s3cmd-b/s"
check "s3cmd sync" bash -c "$(printf '%q ' "${S3CMD[@]}") sync '$T/tree/' s3://s3cmd-b/tree/ && [ \$($(printf '%q ' "${S3CMD[@]}") ls -r s3://s3cmd-b/tree/ | wc -l) -ge 25 ]"
check "s3cmd del" bash -c "$(printf '%q ' "${S3CMD[@]}") del s3://s3cmd-b/s && ! $(printf '%q ' "${S3CMD[@]}") ls s3://s3cmd-b/ | grep -q 's3cmd-b/s\$'"

check "admin CLI: status" bash -c "MINICLOUD_ENDPOINT=$E '$T/minicloud' status | grep -q node"
check "admin CLI: bucket create + list" bash -c "MINICLOUD_ENDPOINT=$E '$T/minicloud' bucket create cli-made && MINICLOUD_ENDPOINT=$E '$T/minicloud' bucket list | grep -q cli-made"
check "admin CLI: key with a read grant can read, not write" bash -c "
  out=\$(MINICLOUD_ENDPOINT=$E '$T/minicloud' key create --name reader) &&
  ak=\$(echo \"\$out\" | awk '/access key/{print \$3}') && sk=\$(echo \"\$out\" | awk '/secret key/{print \$3}') &&
  MINICLOUD_ENDPOINT=$E '$T/minicloud' key grant \$ak s3cmd-b read &&
  AWS_ACCESS_KEY_ID=\$ak AWS_SECRET_ACCESS_KEY=\$sk /usr/bin/aws --endpoint-url $E s3 cp s3://s3cmd-b/big '$T/ro.big' &&
  ! AWS_ACCESS_KEY_ID=\$ak AWS_SECRET_ACCESS_KEY=\$sk /usr/bin/aws --endpoint-url $E s3 cp '$T/small' s3://s3cmd-b/denied 2>'$T/denied.err' &&
  grep -q AccessDenied '$T/denied.err'"
check "server still alive" kill -0 "$PID"

echo "clients: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
