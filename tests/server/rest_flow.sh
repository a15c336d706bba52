#!/usr/bin/env bash
# The seed article's REST flow against a live `batch-emulator serve`, with curl and jq only.
#
# Environment:
#   BATCH_EMULATOR_URL   the server's URL (e.g. http://127.0.0.1:40123)
#   BATCH_EMULATOR_HOME  the home the server serves (the CLI reads and writes the same one)
#   SEED_DATA            a local folder of inputs (the seed's examples/mnist/data)
#   POLL_SECONDS         optional: how long to wait for each job (default 180)
# `batch-emulator` must be on PATH. Exits non-zero with a message at the first failed check.
set -euo pipefail

: "${BATCH_EMULATOR_URL:?set BATCH_EMULATOR_URL to the server URL}"
: "${BATCH_EMULATOR_HOME:?set BATCH_EMULATOR_HOME to the server home}"
: "${SEED_DATA:?set SEED_DATA to the seed mnist data folder}"
POLL_SECONDS="${POLL_SECONDS:-180}"
POLL_INTERVAL=0.5
ENDPOINT=mybatchedp
DEPLOYMENT=nonmlflowdp

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

# curl wrapper: `request METHOD URL [curl args...]` sets STATUS and BODY (no subshell).
BODY_FILE="$(mktemp)"
trap 'rm -f "$BODY_FILE"' EXIT
request() {
  local method="$1" url="$2"
  shift 2
  STATUS="$(curl --silent --show-error --max-time 30 -o "$BODY_FILE" -w '%{http_code}' \
    -X "$method" "$url" "$@")"
  BODY="$(cat "$BODY_FILE")"
}

# Poll GET <scoring_uri>/<job> until Completed (bounded: POLL_SECONDS / POLL_INTERVAL tries).
wait_completed() {
  local job="$1" status="" tries
  tries="$(awk -v s="$POLL_SECONDS" -v i="$POLL_INTERVAL" 'BEGIN { print int(s / i) }')"
  for ((i = 0; i < tries; i++)); do
    request GET "$SCORING_URI/$job" -H "Authorization: Bearer $TOKEN"
    [[ "$STATUS" == 200 ]] || fail "GET $SCORING_URI/$job answered $STATUS: $BODY"
    status="$(jq -r '.properties.status' <<<"$BODY")"
    case "$status" in
      Completed) echo "job $job: Completed"; return 0 ;;
      Failed | Canceled) fail "job $job ended $status: $(jq -c '.properties.error' <<<"$BODY")" ;;
    esac
    sleep "$POLL_INTERVAL"
  done
  fail "job $job still '$status' after ${POLL_SECONDS}s"
}

job_name() {  # .name, else the last segment of .id
  jq -r 'if (.name // "") != "" then .name else (.id | split("/") | last) end'
}

step "token for https://ml.azure.com"
TOKEN="$(batch-emulator account get-access-token --resource https://ml.azure.com \
  --query accessToken -o tsv)"
[[ -n "$TOKEN" ]] || fail "empty access token"

step "scoring URI of $ENDPOINT"
SCORING_URI="$(batch-emulator ml batch-endpoint show -n "$ENDPOINT" --query scoring_uri -o tsv)"
[[ "$SCORING_URI" == "$BATCH_EMULATOR_URL/endpoints/$ENDPOINT/jobs" ]] \
  || fail "scoring_uri is '$SCORING_URI', expected the live server's $BATCH_EMULATOR_URL/endpoints/$ENDPOINT/jobs"

step "no token -> 401"
request POST "$SCORING_URI" -H 'Content-Type: application/json' -d '{}'
[[ "$STATUS" == 401 ]] || fail "POST without a token answered $STATUS: $BODY"

step "management-audience token -> 401 (audience)"
MANAGEMENT_TOKEN="$(batch-emulator account get-access-token \
  --resource https://management.azure.com --query accessToken -o tsv)"
request POST "$SCORING_URI" -H "Authorization: Bearer $MANAGEMENT_TOKEN" \
  -H 'Content-Type: application/json' -d '{}'
[[ "$STATUS" == 401 ]] || fail "POST with a management token answered $STATUS: $BODY"
jq -e '.error.message | test("audience"; "i")' <<<"$BODY" >/dev/null \
  || fail "the audience error does not mention the audience: $BODY"

step "invoke, preview body (registered data asset mnist-images:1)"
PREVIEW='{"properties":{"dataset":{"dataInputType":"DatasetVersion","datasetName":"mnist-images","datasetVersion":"1"}}}'
request POST "$SCORING_URI" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -d "$PREVIEW"
[[ "$STATUS" == 200 ]] || fail "preview invoke answered $STATUS: $BODY"
JOB="$(job_name <<<"$BODY")"
[[ -n "$JOB" && "$JOB" != null ]] || fail "no job name in $BODY"
echo "job $JOB"
wait_completed "$JOB"

step "invoke, GA body with azureml-model-deployment: $DEPLOYMENT"
OUTPUT="azureml://datastores/workspaceblobstore/paths/rest-flow-$(date +%s)-$$-$RANDOM/"
GA="$(jq -n --arg uri "$SEED_DATA" --arg out "$OUTPUT" '{properties: {
  InputData: {mnistinput: {JobInputType: "UriFolder", Uri: $uri}},
  OutputData: {score: {JobOutputType: "UriFolder", Uri: $out}}}}')"
request POST "$SCORING_URI" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -H "azureml-model-deployment: $DEPLOYMENT" -d "$GA"
[[ "$STATUS" == 200 ]] || fail "GA invoke answered $STATUS: $BODY"
JOB="$(job_name <<<"$BODY")"
[[ -n "$JOB" && "$JOB" != null ]] || fail "no job name in $BODY"
echo "job $JOB"
wait_completed "$JOB"

step "the CLI sees the job invoked over HTTP"
SHOWN="$(batch-emulator ml job show -n "$JOB" --query outputs.score.path -o tsv)"
[[ "${SHOWN%/}" == "${OUTPUT%/}" ]] || fail "ml job show: outputs.score.path is '$SHOWN', expected '$OUTPUT'"
DEPLOYMENT_SHOWN="$(batch-emulator ml job show -n "$JOB" --query properties.deployment_name -o tsv)"
[[ "$DEPLOYMENT_SHOWN" == "$DEPLOYMENT" ]] \
  || fail "ml job show: the job ran on '$DEPLOYMENT_SHOWN', not on the header's $DEPLOYMENT"
STATUS_SHOWN="$(batch-emulator ml job show -n "$JOB" --query status -o tsv)"
[[ "$STATUS_SHOWN" == Completed ]] || fail "ml job show: status '$STATUS_SHOWN', expected Completed"

echo "REST flow OK"
