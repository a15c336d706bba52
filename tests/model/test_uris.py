"""Data URIs: which http(s) URLs name an Azure Blob container, and what stays local."""

from __future__ import annotations

import pytest

from emulator.exceptions import InputError
from emulator.model.uris import BlobUrl, is_http_url, parse_blob_url, to_local_path


@pytest.mark.parametrize(("url", "expected"), [
    ("https://pipelinedata.blob.core.windows.net/sampledata/mnist",
     BlobUrl("https://pipelinedata.blob.core.windows.net", "sampledata", "mnist")),
    ("https://pipelinedata.blob.core.windows.net/sampledata/nytaxi/taxi-tip-data.csv",
     BlobUrl("https://pipelinedata.blob.core.windows.net", "sampledata",
             "nytaxi/taxi-tip-data.csv")),
    ("https://acct.blob.core.chinacloudapi.cn/data/", BlobUrl(
        "https://acct.blob.core.chinacloudapi.cn", "data", "")),
    ("https://acct.blob.core.windows.net/data/my%20folder?sv=1&sig=x", BlobUrl(
        "https://acct.blob.core.windows.net", "data", "my folder", "sv=1&sig=x")),
    ("http://127.0.0.1:10000/devstoreaccount1/sampledata/mnist", BlobUrl(
        "http://127.0.0.1:10000/devstoreaccount1", "sampledata", "mnist")),
    ("HTTPS://localhost:10000/devstoreaccount1/c", BlobUrl(
        "https://localhost:10000/devstoreaccount1", "c", "")),
    ("http://[::1]:10000/devstoreaccount1/c/a/b", BlobUrl(
        "http://[::1]:10000/devstoreaccount1", "c", "a/b")),
    # not a container: no container segment, no port on loopback, a host that is not blob's
    ("https://pipelinedata.blob.core.windows.net/", None),
    ("http://127.0.0.1/devstoreaccount1/c/x", None),
    ("http://127.0.0.1:10000/only-one", None),
    ("https://example.com:8443/account/container/x", None),
    ("https://example.com/data.csv", None),
    ("azureml://datastores/workspaceblobstore/paths/x", None),
])
def test_blob_urls_host_style_and_path_style(url, expected):
    assert parse_blob_url(url) == expected


def test_http_urls_are_told_apart_from_local_paths(tmp_path):
    assert is_http_url("HTTPS://x/y") and is_http_url("http://x")
    assert not is_http_url("httpdata/file.csv") and not is_http_url(str(tmp_path))
    with pytest.raises(InputError, match=r"^https://x/out: an http\(s\) URL can only be read "
                                         "as a job input; write to a local path"):
        to_local_path("https://x/out", lambda name: tmp_path)
