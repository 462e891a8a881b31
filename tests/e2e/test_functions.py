"""CreateFunction / GetFunction / ListFunctions / UpdateFunctionConfiguration / DeleteFunction
(configuration side; code packages are in test_code.py)."""

from __future__ import annotations

import time

import pytest

from scfdtest import TIME_RE, b64, hello_zip, uniq


def create_params(name, **extra):
    p = {
        "FunctionName": name,
        "Code": {"ZipFile": b64(hello_zip())},
        "Handler": "index.main_handler",
        "Runtime": "Python3.9",
    }
    p.update(extra)
    return p


def env_dict(f):
    return {v["Key"]: v["Value"] for v in (f["Environment"] or {}).get("Variables") or []}


# ---------------------------------------------------------------------------------------
# create / get
# ---------------------------------------------------------------------------------------


def test_create_function_full(api):
    ns = uniq("fns")
    api.call("CreateNamespace", Namespace=ns)
    name = uniq("fn")
    resp = api.call("CreateFunction", create_params(
        name, Namespace=ns, Description="full function", MemorySize=256, Timeout=30,
        Environment={"Variables": [{"Key": "A", "Value": "1"}, {"Key": "GREETING", "Value": "hello world"}]},
    ))
    assert set(k for k, v in resp.items() if v is not None) == {"RequestId"}
    first = api.get_function(name, ns)
    assert first["Status"] in ("Creating", "Active"), first["Status"]
    f = api.wait_status(name, ns)
    assert f["FunctionName"] == name
    assert f["Namespace"] == ns
    assert f["Runtime"] == "Python3.9"
    assert f["Handler"] == "index.main_handler"
    assert f["MemorySize"] == 256
    assert f["Timeout"] == 30
    assert f["Description"] == "full function"
    assert env_dict(f) == {"A": "1", "GREETING": "hello world"}
    assert f["Status"] == "Active"
    assert isinstance(f["StatusDesc"], str)
    assert isinstance(f["StatusReasons"], list)
    assert isinstance(f["CodeSize"], int) and f["CodeSize"] > 0
    assert isinstance(f["CodeResult"], str) and f["CodeResult"]
    assert isinstance(f["FunctionId"], str) and f["FunctionId"]
    assert f["Type"] == "Event"
    assert f["Qualifier"] == "$LATEST"
    assert f["FunctionVersion"] == "$LATEST"
    assert TIME_RE.match(f["AddTime"]), f["AddTime"]
    assert TIME_RE.match(f["ModTime"]), f["ModTime"]
    assert f["ModTime"] >= f["AddTime"]
    assert isinstance(f["Tags"], list)
    assert f["InitTimeout"] == 65


def test_create_function_defaults(api):
    name = uniq("fn")
    api.call("CreateFunction", {"FunctionName": name, "Code": {"ZipFile": b64(hello_zip())},
                                "Handler": "index.main_handler"})
    f = api.wait_status(name)
    assert f["Namespace"] == "default"
    assert f["MemorySize"] == 128
    assert f["Timeout"] == 3
    assert f["InitTimeout"] == 65
    # SCF's own default is Python2.7; scfd's is Python3.9 (configurable, see the README).
    assert f["Runtime"] == "Python3.9"
    assert f["Type"] == "Event"
    assert env_dict(f) == {}
    # GetFunction without Namespace == Namespace "default"
    assert api.get_function(name, "default")["FunctionId"] == f["FunctionId"]


def test_create_function_tags_and_init_timeout(api):
    name = uniq("fn")
    api.call("CreateFunction", create_params(name, InitTimeout=30, Tags=[{"Key": "team", "Value": "e2e"}]))
    f = api.wait_status(name)
    assert f["InitTimeout"] == 30
    assert {(t["Key"], t["Value"]) for t in f["Tags"]} == {("team", "e2e")}


def test_function_ids_are_unique(api):
    a, b = uniq("fn"), uniq("fn")
    api.create_function(a, wait=False)
    api.create_function(b, wait=False)
    assert api.get_function(a)["FunctionId"] != api.get_function(b)["FunctionId"]


@pytest.mark.parametrize("name", ["ab", "a" * 60, "a-b_c9", "Fn1", "my_func-2"])
def test_valid_function_names(api, name):
    ns = uniq("vn")
    api.call("CreateNamespace", Namespace=ns)
    api.call("CreateFunction", create_params(name, Namespace=ns))
    assert api.get_function(name, ns)["FunctionName"] == name


@pytest.mark.parametrize("name", [
    "a", "a" * 61, "1fn", "-fn", "_fn", "fn-", "fn_", "fn.x", "fn x", "fn/x", "函数名",
])
def test_invalid_function_names(api, name):
    api.expect("InvalidParameterValue.FunctionName", "CreateFunction", create_params(name))


def test_duplicate_function(api):
    name = uniq("dup")
    api.call("CreateFunction", create_params(name, Description="original"))
    api.expect("ResourceInUse.Function", "CreateFunction", create_params(name, Description="second"))
    assert api.get_function(name)["Description"] == "original"


def test_same_name_in_another_namespace(api):
    ns = uniq("ns")
    api.call("CreateNamespace", Namespace=ns)
    name = uniq("fn")
    api.call("CreateFunction", create_params(name, Description="in default"))
    api.call("CreateFunction", create_params(name, Namespace=ns, Description="in ns"))
    assert api.get_function(name)["Description"] == "in default"
    assert api.get_function(name, ns)["Description"] == "in ns"


def test_create_in_missing_namespace(api):
    api.expect_create_refused("ResourceNotFound.Namespace", create_params(uniq("fn"), Namespace=uniq("nons")))


@pytest.mark.parametrize("handler", ["index", "index.", ".main", "main_handler"])
def test_invalid_handler(api, handler):
    api.expect_create_refused("InvalidParameterValue.Handler", create_params(uniq("fn"), Handler=handler))


@pytest.mark.parametrize("runtime", ["Cobol1", "Python4.0", "Nodejs99", "Java99"])
def test_invalid_runtime(api, runtime):
    api.expect_create_refused("InvalidParameterValue.Runtime", create_params(uniq("fn"), Runtime=runtime))


@pytest.mark.parametrize("runtime", ["Python3.6", "Python3.7", "Python3.10", "Python3.12", "Nodejs12.16",
                                     "Nodejs16.13", "Nodejs18.15", "Nodejs20.x", "CustomRuntime"])
def test_valid_runtimes(api, runtime):
    name = uniq("rt")
    api.call("CreateFunction", create_params(name, Runtime=runtime))
    assert api.get_function(name)["Runtime"] == runtime


@pytest.mark.parametrize("runtime", ["Python2.7", "Php7.4", "Php8.0", "Go1", "Java8"])
def test_runtimes_this_machine_cannot_serve_are_refused(api, runtime):
    """SCF runtimes without an interpreter here are refused, naming the ones that can run."""
    err = api.expect_create_refused("InvalidParameterValue.Runtime", create_params(uniq("rt"), Runtime=runtime))
    assert "Python3.9" in err.get_message() and "Nodejs18.15" in err.get_message()


@pytest.mark.parametrize("mem", [0, 32, 100, 129, 200, 3100, 3200, 4096, -128])
def test_invalid_memory_size(api, mem):
    api.expect_create_refused("InvalidParameterValue.MemorySize", create_params(uniq("fn"), MemorySize=mem))


@pytest.mark.parametrize("mem", [64, 128, 384, 1536, 3072])
def test_valid_memory_size(api, mem):
    name = uniq("mem")
    api.call("CreateFunction", create_params(name, MemorySize=mem))
    assert api.get_function(name)["MemorySize"] == mem


@pytest.mark.parametrize("timeout", [0, -1, 901, 3600])
def test_invalid_timeout(api, timeout):
    api.expect_create_refused("LimitExceeded.Timeout", create_params(uniq("fn"), Timeout=timeout))


@pytest.mark.parametrize("timeout", [1, 900])
def test_valid_timeout(api, timeout):
    name = uniq("to")
    api.call("CreateFunction", create_params(name, Timeout=timeout))
    assert api.get_function(name)["Timeout"] == timeout


@pytest.mark.parametrize("key", ["SCF_RUNTIME", "TENCENTCLOUD_REGION", "_HANDLER",
                                 "LD_PRELOAD", "LD_AUDIT", "GLIBC_TUNABLES"])
def test_reserved_environment_names(api, key):
    env = {"Variables": [{"Key": "OK", "Value": "1"}, {"Key": key, "Value": "x"}]}
    api.expect_create_refused("InvalidParameterValue.EnvironmentSystemProtect",
                              create_params(uniq("fn"), Environment=env))


def test_environment_too_large_single(api):
    env = {"Variables": [{"Key": "BIG", "Value": "x" * 4200}]}
    api.expect_create_refused("InvalidParameterValue.EnvironmentExceededLimit",
                              create_params(uniq("fn"), Environment=env))


def test_environment_too_large_total(api):
    env = {"Variables": [{"Key": f"V{i}", "Value": "x" * 1000} for i in range(5)]}
    api.expect_create_refused("InvalidParameterValue.EnvironmentExceededLimit",
                              create_params(uniq("fn"), Environment=env))


def test_environment_below_limit_is_fine(api):
    name = uniq("env")
    env = {"Variables": [{"Key": f"V{i}", "Value": "x" * 900} for i in range(3)]}
    api.call("CreateFunction", create_params(name, Environment=env))
    assert env_dict(api.get_function(name)) == {f"V{i}": "x" * 900 for i in range(3)}


def test_environment_empty_key(api):
    env = {"Variables": [{"Key": "", "Value": "x"}]}
    api.expect_create_refused("InvalidParameterValue.Environment", create_params(uniq("fn"), Environment=env))


def test_function_limit_per_namespace(make_server):
    s = make_server(limits={"max_functions_per_namespace": 2})
    api = s.client()
    api.create_function("one", wait=False)
    api.create_function("two", wait=False)
    api.expect_create_refused("LimitExceeded.Function", create_params("three"))
    # other namespaces have their own quota
    api.call("CreateNamespace", Namespace="second")
    api.create_function("three", namespace="second", wait=False)
    # deleting frees a slot
    api.wait_status("one")
    api.call("DeleteFunction", FunctionName="one")
    api.create_function("three", wait=False)
    assert sorted(api.function_names()) == ["three", "two"]


def test_function_limit_default_is_50(make_server):
    s = make_server(limits={"max_functions_per_namespace": None})
    api = s.client()
    for i in range(50):
        api.create_function(f"fn{i}", wait=False)
    api.expect_create_refused("LimitExceeded.Function", create_params("fn50"))
    assert api.call("ListFunctions", Limit=100)["TotalCount"] == 50
    # ListFunctions pages 20 by default
    resp = api.call("ListFunctions")
    assert len(resp["Functions"]) == 20
    assert resp["TotalCount"] == 50


def test_get_function_missing(api):
    api.expect("ResourceNotFound.Function", "GetFunction", FunctionName=uniq("nope"))


def test_get_function_qualifier(api):
    name = uniq("q")
    api.create_function(name)
    f = api.call("GetFunction", FunctionName=name, Qualifier="$LATEST")
    assert f["FunctionName"] == name and f["Qualifier"] == "$LATEST"
    api.expect("ResourceNotFound.Version", "GetFunction", FunctionName=name, Qualifier="1")
    api.expect("ResourceNotFound.Version", "GetFunction", FunctionName=name, Qualifier="$DEFAULT_NOPE")


def test_get_function_wrong_namespace(api):
    name = uniq("wn")
    api.create_function(name, wait=False)
    ns = uniq("ns")
    api.call("CreateNamespace", Namespace=ns)
    api.expect("ResourceNotFound.Function", "GetFunction", FunctionName=name, Namespace=ns)


# ---------------------------------------------------------------------------------------
# UpdateFunctionConfiguration
# ---------------------------------------------------------------------------------------


def test_update_function_configuration(api):
    name = uniq("cfg")
    api.create_function(name, Description="before", MemorySize=128, Timeout=3,
                        Environment={"Variables": [{"Key": "OLD", "Value": "1"}]})
    resp = api.call("UpdateFunctionConfiguration", FunctionName=name, Description="after", MemorySize=512,
                    Timeout=60, Environment={"Variables": [{"Key": "NEW", "Value": "2"}]})
    assert resp["RequestId"]
    f = api.wait_status(name)
    assert f["Description"] == "after"
    assert f["MemorySize"] == 512
    assert f["Timeout"] == 60
    assert env_dict(f) == {"NEW": "2"}
    assert f["Runtime"] == "Python3.9"
    assert f["Handler"] == "index.main_handler"


def test_update_function_configuration_partial(api):
    name = uniq("cfg")
    api.create_function(name, Description="keep me", MemorySize=256, Timeout=10,
                        Environment={"Variables": [{"Key": "K", "Value": "v"}]})
    api.call("UpdateFunctionConfiguration", FunctionName=name, Timeout=20)
    f = api.wait_status(name)
    assert f["Timeout"] == 20
    assert f["Description"] == "keep me"
    assert f["MemorySize"] == 256
    assert env_dict(f) == {"K": "v"}


def test_update_function_configuration_in_namespace(api):
    ns = uniq("ns")
    api.call("CreateNamespace", Namespace=ns)
    name = uniq("cfg")
    api.create_function(name, namespace=ns)
    api.create_function(name)
    api.call("UpdateFunctionConfiguration", FunctionName=name, Namespace=ns, Description="ns copy")
    assert api.wait_status(name, ns)["Description"] == "ns copy"
    assert api.get_function(name)["Description"] != "ns copy"


@pytest.mark.parametrize("params,code", [
    ({"MemorySize": 100}, "InvalidParameterValue.MemorySize"),
    ({"MemorySize": 4096}, "InvalidParameterValue.MemorySize"),
    ({"Timeout": 901}, "LimitExceeded.Timeout"),
    ({"Timeout": 0}, "LimitExceeded.Timeout"),
    ({"Description": "d" * 1001}, "InvalidParameterValue.Description"),
    ({"Environment": {"Variables": [{"Key": "SCF_RUNTIME", "Value": "x"}]}},
     "InvalidParameterValue.EnvironmentSystemProtect"),
    ({"Environment": {"Variables": [{"Key": "LD_PRELOAD", "Value": "/tmp/evil.so"}]}},
     "InvalidParameterValue.EnvironmentSystemProtect"),
    ({"Environment": {"Variables": [{"Key": "GLIBC_TUNABLES", "Value": "glibc.malloc.check=3"}]}},
     "InvalidParameterValue.EnvironmentSystemProtect"),
    ({"Environment": {"Variables": [{"Key": "BIG", "Value": "x" * 4200}]}},
     "InvalidParameterValue.EnvironmentExceededLimit"),
    ({"Environment": {"Variables": [{"Key": "", "Value": "x"}]}}, "InvalidParameterValue.Environment"),
    ({"Runtime": "Nodejs18.15"}, "InvalidParameterValue.Runtime"),
])
def test_update_function_configuration_validation(api, params, code):
    name = uniq("cfg")
    api.create_function(name, Description="unchanged", MemorySize=256, Timeout=10,
                        Environment={"Variables": [{"Key": "K", "Value": "v"}]})
    api.expect(code, "UpdateFunctionConfiguration", dict(FunctionName=name, **params))
    f = api.get_function(name)
    assert (f["Description"], f["MemorySize"], f["Timeout"], f["Runtime"], env_dict(f)) == (
        "unchanged", 256, 10, "Python3.9", {"K": "v"})


def test_update_function_configuration_missing(api):
    api.expect("ResourceNotFound.Function", "UpdateFunctionConfiguration", FunctionName=uniq("nope"),
               Description="x")


# ---------------------------------------------------------------------------------------
# DeleteFunction
# ---------------------------------------------------------------------------------------


def test_delete_function(api):
    name = uniq("del")
    api.create_function(name)
    api.call("DeleteFunction", FunctionName=name)
    api.expect("ResourceNotFound.Function", "GetFunction", FunctionName=name)
    assert name not in api.function_names()
    api.expect("ResourceNotFound.Function", "DeleteFunction", FunctionName=name)
    # the name is free again
    api.create_function(name)


def test_delete_function_in_namespace(api):
    ns = uniq("ns")
    api.call("CreateNamespace", Namespace=ns)
    name = uniq("del")
    api.create_function(name, namespace=ns)
    api.create_function(name)
    api.call("DeleteFunction", FunctionName=name, Namespace=ns)
    api.expect("ResourceNotFound.Function", "GetFunction", FunctionName=name, Namespace=ns)
    assert api.get_function(name)["FunctionName"] == name
    api.call("DeleteNamespace", Namespace=ns)


def test_delete_function_missing(api):
    api.expect("ResourceNotFound.Function", "DeleteFunction", FunctionName=uniq("nope"))


# ---------------------------------------------------------------------------------------
# ListFunctions
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def flist(tmp_path_factory):
    from scfdtest import Server, make_config
    s = Server(tmp_path_factory.mktemp("scfd-flist"), make_config())
    s.start()
    api = s.client()
    api.create_function("zeta-fn", Runtime="Python3.9", Description="the last one", wait=False)
    time.sleep(1.1)  # distinct second-resolution AddTime
    api.create_function("alpha-fn", Runtime="Nodejs18.15", Description="first one", wait=False)
    api.create_function("beta-fn", Runtime="Python3.9", Description="second", wait=False)
    api.create_function("gamma", Runtime="Python3.12", Description="third one", wait=False)
    api.call("CreateNamespace", Namespace="other")
    api.create_function("other-fn", namespace="other", wait=False)
    time.sleep(1.1)
    api.wait_status("zeta-fn")
    api.call("UpdateFunctionConfiguration", FunctionName="zeta-fn", Description="the last one, updated")
    for n in ("zeta-fn", "alpha-fn", "beta-fn", "gamma"):
        api.wait_status(n)
    api.wait_status("other-fn", "other")
    yield api
    s.stop()


def fnames(resp):
    return [f["FunctionName"] for f in resp["Functions"]]


ALL_FNS = ["alpha-fn", "beta-fn", "gamma", "zeta-fn"]


def test_list_functions_default_namespace(flist):
    resp = flist.call("ListFunctions")
    assert sorted(fnames(resp)) == ALL_FNS
    assert resp["TotalCount"] == 4


def test_list_functions_item_fields(flist):
    f = [x for x in flist.call("ListFunctions")["Functions"] if x["FunctionName"] == "alpha-fn"][0]
    assert f["Namespace"] == "default"
    assert f["Runtime"] == "Nodejs18.15"
    assert f["Status"] == "Active"
    assert f["Description"] == "first one"
    assert f["Type"] == "Event"
    assert isinstance(f["FunctionId"], str) and f["FunctionId"]
    assert TIME_RE.match(f["AddTime"]) and TIME_RE.match(f["ModTime"])
    assert f["FunctionId"] == flist.get_function("alpha-fn")["FunctionId"]


def test_list_functions_other_namespace(flist):
    resp = flist.call("ListFunctions", Namespace="other")
    assert fnames(resp) == ["other-fn"]
    assert resp["TotalCount"] == 1


def test_list_functions_missing_namespace(flist):
    flist.expect("ResourceNotFound.Namespace", "ListFunctions", Namespace="nowhere")


def test_list_functions_order_by_name(flist):
    assert fnames(flist.call("ListFunctions", Orderby="FunctionName", Order="ASC")) == ALL_FNS
    assert fnames(flist.call("ListFunctions", Orderby="FunctionName", Order="DESC")) == ALL_FNS[::-1]


def test_list_functions_order_by_add_time(flist):
    asc = fnames(flist.call("ListFunctions", Orderby="AddTime", Order="ASC"))
    desc = fnames(flist.call("ListFunctions", Orderby="AddTime", Order="DESC"))
    assert asc[0] == "zeta-fn" and sorted(asc) == ALL_FNS
    assert desc[-1] == "zeta-fn" and sorted(desc) == ALL_FNS


def test_list_functions_order_by_mod_time(flist):
    asc = fnames(flist.call("ListFunctions", Orderby="ModTime", Order="ASC"))
    desc = fnames(flist.call("ListFunctions", Orderby="ModTime", Order="DESC"))
    assert asc[-1] == "zeta-fn" and sorted(asc) == ALL_FNS
    assert desc[0] == "zeta-fn" and sorted(desc) == ALL_FNS


def test_list_functions_paging(flist):
    resp = flist.call("ListFunctions", Orderby="FunctionName", Order="ASC", Limit=2, Offset=1)
    assert fnames(resp) == ["beta-fn", "gamma"]
    assert resp["TotalCount"] == 4
    resp = flist.call("ListFunctions", Orderby="FunctionName", Order="ASC", Limit=2, Offset=3)
    assert fnames(resp) == ["zeta-fn"]
    assert resp["TotalCount"] == 4
    resp = flist.call("ListFunctions", Limit=2, Offset=10)
    assert fnames(resp) == [] and resp["TotalCount"] == 4


def test_list_functions_search_key(flist):
    resp = flist.call("ListFunctions", SearchKey="-fn", Orderby="FunctionName", Order="ASC")
    assert fnames(resp) == ["alpha-fn", "beta-fn", "zeta-fn"]
    assert resp["TotalCount"] == 3
    assert fnames(flist.call("ListFunctions", SearchKey="amm")) == ["gamma"]
    assert flist.call("ListFunctions", SearchKey="nothing-like-this")["TotalCount"] == 0


def test_list_functions_description(flist):
    resp = flist.call("ListFunctions", Description="one", Orderby="FunctionName", Order="ASC")
    assert fnames(resp) == ["alpha-fn", "gamma", "zeta-fn"]
    assert resp["TotalCount"] == 3


def test_list_functions_filter_runtime(flist):
    resp = flist.call("ListFunctions", Filters=[{"Name": "Runtime", "Values": ["Python3.9"]}],
                      Orderby="FunctionName", Order="ASC")
    assert fnames(resp) == ["beta-fn", "zeta-fn"]
    assert resp["TotalCount"] == 2


def test_list_functions_filter_values_are_ored(flist):
    resp = flist.call("ListFunctions", Filters=[{"Name": "Runtime", "Values": ["Python3.9", "Nodejs18.15"]}],
                      Orderby="FunctionName", Order="ASC")
    assert fnames(resp) == ["alpha-fn", "beta-fn", "zeta-fn"]


def test_list_functions_filters_are_anded(flist):
    resp = flist.call("ListFunctions", Filters=[
        {"Name": "Runtime", "Values": ["Python3.9", "Python3.12"]},
        {"Name": "Status", "Values": ["Active"]},
        {"Name": "Type", "Values": ["Event"]},
    ], SearchKey="a", Orderby="FunctionName", Order="ASC")
    assert fnames(resp) == ["beta-fn", "gamma", "zeta-fn"]
    resp = flist.call("ListFunctions", Filters=[
        {"Name": "Runtime", "Values": ["Python3.9"]}, {"Name": "Status", "Values": ["Creating"]},
    ])
    assert fnames(resp) == [] and resp["TotalCount"] == 0


def test_list_functions_filter_type(flist):
    assert flist.call("ListFunctions", Filters=[{"Name": "Type", "Values": ["Event"]}])["TotalCount"] == 4
    assert flist.call("ListFunctions", Filters=[{"Name": "Type", "Values": ["HTTP"]}])["TotalCount"] == 0


def test_list_functions_bad_orderby(flist):
    flist.expect("InvalidParameterValue.OrderBy", "ListFunctions", Orderby="Size")


def test_list_functions_bad_filter(flist):
    flist.expect("InvalidParameterValue.Filters", "ListFunctions", Filters=[{"Name": "Bogus", "Values": ["x"]}])


# ---------------------------------------------------------------------------------------
# triggers (none can exist yet: CreateTrigger is UnsupportedOperation)
# ---------------------------------------------------------------------------------------


def test_list_triggers_of_a_function(api):
    name = uniq("fn")
    api.call("CreateFunction", create_params(name))
    r = api.call("ListTriggers", FunctionName=name, Offset=0, Limit=20, OrderBy="add_time", Order="ASC",
                 Filters=[{"Name": "TriggerName", "Values": ["t1"]}])
    assert r["TotalCount"] == 0 and r["Triggers"] == [], r
    assert api.get_function(name)["Triggers"] == []
    api.expect("ResourceNotFound.Function", "ListTriggers", FunctionName=uniq("missing"))
    api.expect("InvalidParameterValue.OrderBy", "ListTriggers", FunctionName=name, OrderBy="name")
    api.expect("InvalidParameterValue.Order", "ListTriggers", FunctionName=name, Order="UP")
    api.expect("InvalidParameterValue.Filters", "ListTriggers", FunctionName=name,
               Filters=[{"Name": "Type", "Values": ["timer"]}])
    api.expect("MissingParameter", "ListTriggers", {}, raw=True)
