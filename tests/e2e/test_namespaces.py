"""CreateNamespace / ListNamespaces / UpdateNamespace / DeleteNamespace."""

from __future__ import annotations

import time

import pytest

from scfdtest import OTHER_REGION, TIME_RE, uniq


def ns_by_name(api, name):
    for n in api.call("ListNamespaces", Limit=100)["Namespaces"]:
        if n["Name"] == name:
            return n
    return None


def test_default_namespace_exists_on_fresh_server(make_server):
    api = make_server().client()
    resp = api.call("ListNamespaces")
    assert resp["TotalCount"] == 1
    assert len(resp["Namespaces"]) == 1
    ns = resp["Namespaces"][0]
    assert ns["Name"] == "default"
    assert ns["Type"] == "default"
    assert TIME_RE.match(ns["AddTime"]), ns
    assert TIME_RE.match(ns["ModTime"]), ns
    assert isinstance(ns["Description"], str)
    # and in every region
    assert make_server().client(region=OTHER_REGION).namespaces() == ["default"]


def test_create_and_list_namespace(api):
    name = uniq("ns")
    resp = api.call("CreateNamespace", Namespace=name, Description="my namespace")
    assert set(k for k, v in resp.items() if v is not None) == {"RequestId"}
    ns = ns_by_name(api, name)
    assert ns is not None
    assert ns["Description"] == "my namespace"
    assert TIME_RE.match(ns["AddTime"]) and TIME_RE.match(ns["ModTime"])
    assert isinstance(ns["Type"], str) and ns["Type"]


def test_create_namespace_unicode_description(api):
    name = uniq("ns")
    api.call("CreateNamespace", Namespace=name, Description="测试命名空间, with ASCII")
    assert ns_by_name(api, name)["Description"] == "测试命名空间, with ASCII"


@pytest.mark.parametrize("name", ["ab", "a" * 30, "a-b_c1", "Ab9", "x_1-y"])
def test_valid_namespace_names(api, name):
    api.call("CreateNamespace", Namespace=name)
    assert name in api.namespaces()


@pytest.mark.parametrize("name", [
    "a", "a" * 31, "1abc", "-abc", "_abc", "abc-", "abc_", "ab c", "ab.c", "ab/c", "ab$c", "名字空间",
])
def test_invalid_namespace_names(api, name):
    api.expect("InvalidParameterValue.NamespaceInvalid", "CreateNamespace", Namespace=name)
    assert name not in api.namespaces()


def test_create_default_namespace_refused(api):
    api.expect("InvalidParameterValue.DefaultNamespace", "CreateNamespace", Namespace="default")


def test_create_duplicate_namespace(api):
    name = uniq("dup")
    api.call("CreateNamespace", Namespace=name, Description="first")
    api.expect("ResourceInUse.Namespace", "CreateNamespace", Namespace=name, Description="second")
    assert ns_by_name(api, name)["Description"] == "first"


def test_namespace_description_length(api):
    ok = uniq("desc")
    api.call("CreateNamespace", Namespace=ok, Description="d" * 1000)
    assert ns_by_name(api, ok)["Description"] == "d" * 1000
    bad = uniq("desc")
    api.expect("InvalidParameterValue.Description", "CreateNamespace", Namespace=bad, Description="d" * 1001)
    assert bad not in api.namespaces()


def test_namespace_limit(make_server):
    s = make_server(limits={"max_namespaces": 3})
    api = s.client()
    api.call("CreateNamespace", Namespace="first")
    api.call("CreateNamespace", Namespace="second")
    api.expect("LimitExceeded.Namespace", "CreateNamespace", Namespace="third")
    assert sorted(api.namespaces()) == ["default", "first", "second"]
    # the quota is per account+region
    s.client(region=OTHER_REGION).call("CreateNamespace", Namespace="third")
    from scfdtest import ACCOUNT_B
    s.client(ACCOUNT_B).call("CreateNamespace", Namespace="third")
    # deleting frees a slot
    api.call("DeleteNamespace", Namespace="first")
    api.call("CreateNamespace", Namespace="third")
    assert sorted(api.namespaces()) == ["default", "second", "third"]


def test_namespace_limit_default_is_five_including_default(make_server):
    s = make_server(limits={"max_namespaces": None})  # not configured: default 5
    api = s.client()
    for i in range(4):
        api.call("CreateNamespace", Namespace=f"ns{i}")
    api.expect("LimitExceeded.Namespace", "CreateNamespace", Namespace="ns4")


def test_list_namespaces_default_limit_is_20(make_server):
    api = make_server(limits={"max_namespaces": 30}).client()
    for i in range(24):
        api.call("CreateNamespace", Namespace=f"n{i:02d}")
    resp = api.call("ListNamespaces")
    assert len(resp["Namespaces"]) == 20
    assert resp["TotalCount"] == 25
    resp = api.call("ListNamespaces", Offset=20)
    assert len(resp["Namespaces"]) == 5


def test_update_namespace(api):
    name = uniq("upd")
    api.call("CreateNamespace", Namespace=name, Description="before")
    before = ns_by_name(api, name)
    api.call("UpdateNamespace", Namespace=name, Description="after")
    after = ns_by_name(api, name)
    assert after["Description"] == "after"
    assert after["AddTime"] == before["AddTime"]
    assert after["ModTime"] >= before["ModTime"]


def test_update_namespace_errors(api):
    api.expect("ResourceNotFound.Namespace", "UpdateNamespace", Namespace=uniq("missing"), Description="x")
    name = uniq("upd")
    api.call("CreateNamespace", Namespace=name, Description="keep")
    api.expect("InvalidParameterValue.Description", "UpdateNamespace", Namespace=name, Description="d" * 1001)
    assert ns_by_name(api, name)["Description"] == "keep"
    api.expect("MissingParameter", "UpdateNamespace", Namespace=name)


def test_update_namespace_modtime_moves(make_server):
    api = make_server().client()
    api.call("CreateNamespace", Namespace="later", Description="a")
    before = ns_by_name(api, "later")
    time.sleep(1.1)
    api.call("UpdateNamespace", Namespace="later", Description="b")
    after = ns_by_name(api, "later")
    assert after["ModTime"] > before["ModTime"]
    assert after["AddTime"] == before["AddTime"]


def test_delete_namespace(api):
    name = uniq("del")
    api.call("CreateNamespace", Namespace=name)
    api.call("DeleteNamespace", Namespace=name)
    assert name not in api.namespaces()
    api.expect("ResourceNotFound.Namespace", "DeleteNamespace", Namespace=name)
    # it can be created again
    api.call("CreateNamespace", Namespace=name)
    assert name in api.namespaces()


def test_delete_namespace_errors(api):
    api.expect("FailedOperation.DeleteNamespace", "DeleteNamespace", Namespace="default")
    assert "default" in api.namespaces()
    api.expect("ResourceNotFound.Namespace", "DeleteNamespace", Namespace=uniq("never"))


def test_delete_namespace_holding_functions(api):
    name = uniq("full")
    api.call("CreateNamespace", Namespace=name)
    api.create_function("fn1", namespace=name, wait=False)
    api.expect("ResourceInUse.Namespace", "DeleteNamespace", Namespace=name)
    assert name in api.namespaces()
    api.wait_status("fn1", name)
    api.call("DeleteFunction", FunctionName="fn1", Namespace=name)
    api.call("DeleteNamespace", Namespace=name)
    assert name not in api.namespaces()


# ---------------------------------------------------------------------------------------
# ListNamespaces query options
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def listing(tmp_path_factory):
    """A private server with a known set of namespaces."""
    from scfdtest import Server, make_config
    s = Server(tmp_path_factory.mktemp("scfd-nslist"), make_config())
    s.start()
    api = s.client()
    api.call("CreateNamespace", Namespace="zulu", Description="last letter")
    time.sleep(1.1)  # distinct second-resolution timestamps
    api.call("CreateNamespace", Namespace="alpha", Description="first letter of the alphabet")
    api.call("CreateNamespace", Namespace="bravo", Description="second")
    api.call("CreateNamespace", Namespace="charlie", Description="third letter")
    yield api
    s.stop()


ALL = ["alpha", "bravo", "charlie", "default", "zulu"]


def names(resp):
    return [n["Name"] for n in resp["Namespaces"]]


def test_list_namespaces_total(listing):
    resp = listing.call("ListNamespaces", Limit=100)
    assert sorted(names(resp)) == ALL
    assert resp["TotalCount"] == 5


def test_list_namespaces_order_by_name(listing):
    assert names(listing.call("ListNamespaces", Orderby="Name", Order="ASC")) == ALL
    assert names(listing.call("ListNamespaces", Orderby="Name", Order="DESC")) == ALL[::-1]


def test_list_namespaces_paging(listing):
    resp = listing.call("ListNamespaces", Orderby="Name", Order="ASC", Limit=2, Offset=1)
    assert names(resp) == ["bravo", "charlie"]
    assert resp["TotalCount"] == 5
    resp = listing.call("ListNamespaces", Orderby="Name", Order="ASC", Limit=2, Offset=4)
    assert names(resp) == ["zulu"]
    assert resp["TotalCount"] == 5
    resp = listing.call("ListNamespaces", Orderby="Name", Order="ASC", Limit=2, Offset=10)
    assert names(resp) == []
    assert resp["TotalCount"] == 5
    assert len(listing.call("ListNamespaces", Limit=3)["Namespaces"]) == 3


def test_list_namespaces_order_by_updatetime(listing):
    asc = names(listing.call("ListNamespaces", Orderby="Updatetime", Order="ASC"))
    desc = names(listing.call("ListNamespaces", Orderby="Updatetime", Order="DESC"))
    # zulu was created more than a second before alpha/bravo/charlie
    assert asc.index("zulu") < asc.index("alpha")
    assert desc.index("zulu") > desc.index("alpha")
    assert sorted(asc) == ALL and sorted(desc) == ALL


def test_list_namespaces_search_by_name(listing):
    resp = listing.call("ListNamespaces", SearchKey=[{"Key": "Namespace", "Value": "ra"}])
    assert sorted(names(resp)) == ["bravo"]
    assert resp["TotalCount"] == 1
    resp = listing.call("ListNamespaces", SearchKey=[{"Key": "Namespace", "Value": "a"}], Orderby="Name",
                        Order="ASC")
    assert names(resp) == ["alpha", "bravo", "charlie", "default"]
    assert resp["TotalCount"] == 4


def test_list_namespaces_search_by_description(listing):
    resp = listing.call("ListNamespaces", SearchKey=[{"Key": "Description", "Value": "letter"}],
                        Orderby="Name", Order="ASC")
    assert names(resp) == ["alpha", "charlie", "zulu"]
    assert resp["TotalCount"] == 3


def test_list_namespaces_search_keys_are_anded(listing):
    resp = listing.call("ListNamespaces", SearchKey=[
        {"Key": "Description", "Value": "letter"}, {"Key": "Namespace", "Value": "ha"},
    ], Orderby="Name", Order="ASC")
    assert names(resp) == ["alpha", "charlie"]
    assert resp["TotalCount"] == 2


def test_list_namespaces_search_with_paging_total(listing):
    resp = listing.call("ListNamespaces", SearchKey=[{"Key": "Description", "Value": "letter"}],
                        Orderby="Name", Order="ASC", Limit=1, Offset=1)
    assert names(resp) == ["charlie"]
    assert resp["TotalCount"] == 3


def test_list_namespaces_bad_order(listing):
    listing.expect("InvalidParameterValue.Order", "ListNamespaces", Order="UP")


def test_list_namespaces_bad_search_key(listing):
    listing.expect("InvalidParameterValue.SearchKey", "ListNamespaces", SearchKey=[{"Key": "Bogus", "Value": "a"}])
