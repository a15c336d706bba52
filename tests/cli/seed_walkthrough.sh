#!/usr/bin/env bash
# The seed article's walkthrough (use-batch-endpoints), step by step, with `az` being a shim
# that calls batch-emulator. Run by tests/cli/test_seed_walkthrough.py with FIXTURES, WORK
# and BATCH_EMULATOR_HOME set; every check fails the script with a message.
set -euo pipefail
cd "$FIXTURES"

fail() { echo "FAILED: $*" >&2; exit 1; }
expect() { [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"; }

az configure --defaults group=my-rg workspace=main -o none
ENDPOINT_NAME=mybatchedp

# create_compute, create_batch_endpoint
az ml compute create -n batch-cluster --type amlcompute --min-instances 0 --max-instances 5 -o none
az ml batch-endpoint create --name $ENDPOINT_NAME -o none

# create_batch_deployment_set_default (the flat layout of the article)
az ml batch-deployment create --name nonmlflowdp --endpoint-name $ENDPOINT_NAME \
    --file nonmlflow-deployment.yml --set-default -o none

# check_batch_deployment_detail, check_batch_endpoint_detail
expect "$(az ml batch-deployment show --name nonmlflowdp --endpoint-name $ENDPOINT_NAME \
    --query settings.max_concurrency_per_instance -o tsv)" 2 "deployment settings"
expect "$(az ml batch-endpoint show --name $ENDPOINT_NAME --query defaults.deployment_name -o tsv)" \
    nonmlflowdp "default deployment"
az ml batch-endpoint show --name $ENDPOINT_NAME --query scoring_uri -o tsv | grep -q "/endpoints/$ENDPOINT_NAME/jobs" \
    || fail "scoring_uri"

# start_batch_scoring_job on a local folder, then follow it
JOB_NAME=$(az ml batch-endpoint invoke --name $ENDPOINT_NAME --input mnist/data --query name -o tsv)
az ml job stream --name "$JOB_NAME" > "$WORK/stream.txt" || fail "job stream exit code"
grep -q "Status: Completed" "$WORK/stream.txt" || fail "stream summary"
expect "$(az ml job show --name "$JOB_NAME" --query status -o tsv)" Completed "job status"
az ml job show --name "$JOB_NAME" --query services.Studio.endpoint -o tsv | grep -q "^file://" \
    || fail "services.Studio.endpoint"
az ml job show --name "$JOB_NAME" --query interaction_endpoints.Studio.endpoint -o tsv | grep -q "^file://" \
    || fail "interaction_endpoints.Studio.endpoint"

# check_scoring_results
az ml job download --name "$JOB_NAME" --output-name score --download-path "$WORK/download" -o none
expect "$(wc -l < "$WORK/download/named-outputs/score/predictions.csv")" 40 "downloaded rows"
grep -q "^0000.png: [0-9]$" "$WORK/download/named-outputs/score/predictions.csv" || fail "row format"

# the older --input-path folder: form, on a registered datastore and on a data asset
az ml datastore create --name sampledata --set type=local path=mnist -o none
JOB2=$(az ml batch-endpoint invoke --name $ENDPOINT_NAME \
    --input-path folder:azureml://datastores/sampledata/paths/data --query name -o tsv)
az ml data create --name mnist-images --path mnist/data --type uri_folder -o none
JOB3=$(az ml batch-endpoint invoke --name $ENDPOINT_NAME --input-dataset azureml:mnist-images@latest \
    --query name -o tsv)

# start_batch_scoring_job_configure_output_settings
JOB4=$(az ml batch-endpoint invoke --name $ENDPOINT_NAME --input mnist/data \
    --output-path folder:azureml://datastores/workspaceblobstore/paths/$ENDPOINT_NAME \
    --set output_file_name=mypredictions.csv --mini-batch-size 20 --instance-count 2 \
    --query name -o tsv)
for job in "$JOB2" "$JOB3" "$JOB4"; do
    az ml job stream --name "$job" > /dev/null || fail "job $job did not complete"
done
expect "$(az ml job show --name "$JOB4" --query outputs.score.path -o tsv)" \
    "azureml://datastores/workspaceblobstore/paths/$ENDPOINT_NAME" "output path"
expect "$(az ml job show --name "$JOB4" --query properties.mini_batches_total -o tsv)" 2 "mini-batches"
expect "$(az ml job show --name "$JOB4" --query settings.instance_count -o tsv)" 2 "instance count"
az ml job download --name "$JOB4" --output-name score --download-path "$WORK/download4" -o none
expect "$(wc -l < "$WORK/download4/named-outputs/score/mypredictions.csv")" 40 "mypredictions rows"

# the same output again is refused up front, and nothing changes
if az ml batch-endpoint invoke --name $ENDPOINT_NAME --input mnist/data \
    --output-path folder:azureml://datastores/workspaceblobstore/paths/$ENDPOINT_NAME \
    --set output_file_name=mypredictions.csv 2> "$WORK/err.txt"; then fail "output reuse accepted"; fi
grep -q "already exists" "$WORK/err.txt" || fail "output reuse message"

# create_new_deployment_not_default, test_new_deployment
az ml batch-deployment create --name digitsv2 --endpoint-name $ENDPOINT_NAME \
    --file digits-v2-deployment.yml -o none
expect "$(az ml batch-endpoint show --name $ENDPOINT_NAME --query defaults.deployment_name -o tsv)" \
    nonmlflowdp "default unchanged by a new deployment"
JOB5=$(az ml batch-endpoint invoke --name $ENDPOINT_NAME --deployment-name digitsv2 \
    --input mnist/data --query name -o tsv)
az ml job stream --name "$JOB5" > /dev/null || fail "new deployment's job"
expect "$(az ml job show --name "$JOB5" --query properties.deployment_name -o tsv)" digitsv2 \
    "job of the named deployment"

# update_default_deployment (both spellings)
az ml batch-endpoint update --name $ENDPOINT_NAME --set defaults.deployment_name=digitsv2 -o none
expect "$(az ml batch-endpoint show --name $ENDPOINT_NAME --query defaults.deployment_name -o tsv)" \
    digitsv2 "default after update --set"
az ml batch-endpoint update --name $ENDPOINT_NAME --defaults deployment_name=nonmlflowdp -o none
expect "$(az ml batch-endpoint show --name $ENDPOINT_NAME --query defaults.deployment_name -o tsv)" \
    nonmlflowdp "default after update --defaults"

# list-jobs
expect "$(az ml batch-endpoint list-jobs --name $ENDPOINT_NAME --query 'length(@)' -o tsv)" 5 \
    "endpoint jobs"
expect "$(az ml batch-deployment list-jobs --name digitsv2 --endpoint-name $ENDPOINT_NAME \
    --query 'length(@)' -o tsv)" 1 "deployment jobs"

# delete the deployments and the endpoint: the jobs are still listed
az ml batch-deployment delete --name digitsv2 --endpoint-name $ENDPOINT_NAME --yes -o none
az ml batch-endpoint delete --name $ENDPOINT_NAME --yes -o none
if az ml batch-endpoint show --name $ENDPOINT_NAME -o none 2>/dev/null; then fail "endpoint still there"; fi
expect "$(az ml job list --query "length([?experiment_name=='$ENDPOINT_NAME'])" -o tsv)" 5 \
    "jobs kept after delete"
expect "$(az ml job show --name "$JOB_NAME" --query status -o tsv)" Completed "old job still shown"
echo "walkthrough passed"
