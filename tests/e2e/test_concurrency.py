"""Concurrent requests must not break uniqueness or quotas."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from scfdtest import b64, hello_zip


def _attempt(fn):
    try:
        fn()
        return "ok"
    except TencentCloudSDKException as e:
        return e.get_code()


def test_parallel_create_same_function(make_server):
    s = make_server()
    z = b64(hello_zip())

    def create(i):
        api = s.client()
        return _attempt(lambda: api.call("CreateFunction", {
            "FunctionName": "race", "Code": {"ZipFile": z}, "Handler": "index.main_handler",
            "Runtime": "Python3.9", "Description": f"writer {i}",
        }))

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(create, range(8)))
    assert results.count("ok") == 1, results
    assert all(r in ("ok", "ResourceInUse.Function") for r in results), results
    api = s.client()
    assert api.function_names() == ["race"]
    api.wait_status("race")


def test_parallel_create_namespaces_respects_quota(make_server):
    s = make_server(limits={"max_namespaces": 4})

    def create(i):
        api = s.client()
        return _attempt(lambda: api.call("CreateNamespace", Namespace=f"par{i}"))

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(create, range(10)))
    assert results.count("ok") == 3, results
    assert all(r in ("ok", "LimitExceeded.Namespace") for r in results), results
    assert len(s.client().namespaces()) == 4


def test_parallel_create_functions_respects_quota(make_server):
    s = make_server(limits={"max_functions_per_namespace": 3})
    z = b64(hello_zip())

    def create(i):
        api = s.client()
        return _attempt(lambda: api.call("CreateFunction", {
            "FunctionName": f"fn{i}", "Code": {"ZipFile": z}, "Handler": "index.main_handler",
        }))

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(create, range(10)))
    assert results.count("ok") == 3, results
    assert all(r in ("ok", "LimitExceeded.Function") for r in results), results
    assert s.client().call("ListFunctions")["TotalCount"] == 3
