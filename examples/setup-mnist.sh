#!/usr/bin/env bash
# The CLI example's endpoint, ready to invoke: compute, endpoint, default deployment, and the
# data asset mnist-images:1 (the 40 images). Run from the repository root.
set -euo pipefail
batch-emulator ml compute create -n batch-cluster --type amlcompute --max-instances 2 -o none
batch-emulator ml batch-endpoint create --name mybatchedp -o none
batch-emulator ml batch-deployment create --file examples/nonmlflow-deployment.yml \
    --endpoint-name mybatchedp --set-default -o none
batch-emulator ml data create --name mnist-images --version 1 --type uri_folder \
    --path examples/mnist/data -o none
