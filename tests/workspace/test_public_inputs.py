"""http(s) inputs as stores: a public Azure Blob container's URL is a datastore without
credentials; any other URL is one file read with urllib (no listing, no writes)."""

from __future__ import annotations

import pytest

from emulator.exceptions import InputError, NotSupportedError, StorageUnavailableError
from emulator.workspace.datastores import RemoteStore, exists, list_files, public_input
from tests.helpers import free_port


def test_a_blob_container_url_is_an_anonymous_store_whatever_its_style():
    store, prefix, kind = public_input("https://acct.blob.core.windows.net/data/mnist", None)
    assert (store, prefix, kind) == (RemoteStore("azureblob", "data", {
        "account_url": "https://acct.blob.core.windows.net", "credential": None}), "mnist",
        "uri_folder")
    store, prefix, kind = public_input("http://127.0.0.1:1/devstoreaccount1/c/x?sig=s",
                                       "uri_folder")
    assert store.options == {"account_url": "http://127.0.0.1:1/devstoreaccount1",
                             "credential": "sig=s"}  # a SAS token is the credential
    assert (store.root, prefix, kind) == ("c", "x", "uri_folder")


def test_a_uri_file_on_any_url_is_one_object_behind_it():
    for url in ("https://acct.blob.core.windows.net/data/a%20b.csv?sig=s",
                "https://example.com:8443/data/a%20b.csv?sig=s"):
        store, prefix, kind = public_input(url, "uri_file")
        assert (store.protocol, prefix, kind) == ("https", "/data/a b.csv", "uri_file")
        assert store.options == {"query": "sig=s"}
        assert store.url(prefix) == f"https://{store.root}/data/a b.csv"  # the query not shown
    store, prefix, kind = public_input("https://example.com/data.csv", None)
    assert (store.protocol, store.root, prefix, kind) == (
        "https", "example.com", "/data.csv", "uri_file")


@pytest.mark.parametrize(("url", "message"), [
    ("https://example.com/data/", r"a uri_folder on an http\(s\) URL must be a public Azure "
                                  "Blob container's"),
    ("https://example.com/", "the URL names no file"),
])
def test_what_cannot_be_read_from_a_url_is_refused(url, message):
    with pytest.raises(InputError, match=message):
        public_input(url, "uri_folder" if url.endswith("data/") else "uri_file")


def test_an_unreachable_url_names_itself_and_the_network_error():
    url = f"http://127.0.0.1:{free_port()}/data.csv"
    store, prefix, _ = public_input(url, "uri_file")
    with pytest.raises(StorageUnavailableError) as caught:
        list_files(store, prefix)
    assert str(caught.value) == (f"{url} cannot be reached ([Errno 111] Connection refused); "
                                 "check the URL and the network")
    with pytest.raises(StorageUnavailableError):
        exists(store, prefix)


def test_a_url_is_never_written_to():
    store, prefix, _ = public_input("http://127.0.0.1:1/data.csv", "uri_file")
    with pytest.raises(NotSupportedError, match="http.s. URLs are read-only inputs"):
        store.objects().put_if_absent(store.key(prefix), b"x")
