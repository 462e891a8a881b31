"""Wire protocol: envelope, HTTP methods, size limits, authentication, action/version/region
resolution, parameter decoding and rate limiting."""

from __future__ import annotations

import hashlib
import json
import time
from urllib.parse import urlencode

import pytest
import requests
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.sign import Sign

from scfdtest import (
    Account,
    ACCOUNT_A,
    ACCOUNT_B,
    OTHER_REGION,
    REGION,
    api_error,
    api_json,
    poll,
    raw_tc3,
    raw_v1,
    uniq,
    v1_params,
)

# ---------------------------------------------------------------------------------------
# health and envelope
# ---------------------------------------------------------------------------------------


def test_healthz_answers_200(server):
    r = requests.get(server.base_url + "/healthz", timeout=5)
    assert r.status_code == 200


def test_success_envelope_and_headers(server):
    r = raw_tc3(server, "ListNamespaces", {})
    resp = api_json(r)
    assert "Error" not in resp, resp
    assert isinstance(resp["Namespaces"], list)
    assert isinstance(resp["TotalCount"], int)
    assert "default" in [n["Name"] for n in resp["Namespaces"]]


def test_request_ids_are_unique(server):
    ids = {api_json(raw_tc3(server, "ListNamespaces", {}))["RequestId"] for _ in range(5)}
    ids.add(api_json(raw_tc3(server, "FooBar", {}))["RequestId"])
    assert len(ids) == 6


# ---------------------------------------------------------------------------------------
# HTTP method and size
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_unsupported_http_method_signed(server, method):
    r = raw_tc3(server, "ListNamespaces", {}, method=method)
    assert api_error(r) == "UnsupportedProtocol"


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_unsupported_http_method_bare(server, method):
    r = requests.request(method, server.base_url + "/", timeout=10)
    assert api_error(r) == "UnsupportedProtocol"


def test_tc3_post_body_over_10mb(server):
    desc = "a" * (10 * 1024 * 1024 + 1024)
    r = raw_tc3(server, "CreateNamespace", {"Namespace": uniq("big"), "Description": desc})
    assert api_error(r) == "RequestSizeLimitExceeded"


def test_tc3_post_body_under_10mb_is_not_a_size_error(server):
    name = uniq("big")
    desc = "a" * 9_000_000
    r = raw_tc3(server, "CreateNamespace", {"Namespace": name, "Description": desc})
    assert api_error(r) == "InvalidParameterValue.Description"


def test_v1_post_body_over_1mb(server):
    desc = "a" * (1024 * 1024 + 1024)
    r = raw_v1(server, "CreateNamespace", {"Namespace": uniq("big"), "Description": desc})
    assert api_error(r) == "RequestSizeLimitExceeded"


def test_v1_post_body_under_1mb_is_not_a_size_error(server):
    desc = "a" * 900_000
    r = raw_v1(server, "CreateNamespace", {"Namespace": uniq("big"), "Description": desc})
    assert api_error(r) == "InvalidParameterValue.Description"


def test_get_query_over_32kb(server):
    desc = "a" * (33 * 1024)
    r = raw_tc3(server, "CreateNamespace", {"Namespace": uniq("big"), "Description": desc}, method="GET")
    assert api_error(r) == "RequestSizeLimitExceeded"


def test_v1_get_query_over_32kb(server):
    desc = "a" * (33 * 1024)
    r = raw_v1(server, "CreateNamespace", {"Namespace": uniq("big"), "Description": desc}, method="GET",
               sign_method="HmacSHA1")
    assert api_error(r) == "RequestSizeLimitExceeded"


def test_get_query_under_32kb_is_not_a_size_error(server):
    desc = "a" * 30_000
    r = raw_tc3(server, "CreateNamespace", {"Namespace": uniq("big"), "Description": desc}, method="GET")
    assert api_error(r) == "InvalidParameterValue.Description"


# ---------------------------------------------------------------------------------------
# authentication
# ---------------------------------------------------------------------------------------


def test_no_authorization_tc3_post(server):
    r = raw_tc3(server, "ListNamespaces", {}, authorization=None)
    assert api_error(r) == "AuthFailure.InvalidAuthorization"


def test_no_authorization_get_without_signature(server):
    r = requests.get(server.base_url + "/?Action=ListNamespaces&Version=2018-04-16&Region=ap-guangzhou",
                     timeout=10)
    assert api_error(r) == "AuthFailure.InvalidAuthorization"


def test_no_authorization_bare_post(server):
    r = requests.post(server.base_url + "/", data=b"{}", headers={"Content-Type": "application/json"}, timeout=10)
    assert api_error(r) == "AuthFailure.InvalidAuthorization"


@pytest.mark.parametrize("auth", [
    "TC3-HMAC-SHA256 garbage",
    "TC3-HMAC-SHA256 Credential=AKIDe2eAccountA0000000000000000001/2024-01-01/scf/tc3_request, "
    "SignedHeaders=content-type;host",
    "TC3-HMAC-SHA256 Credential=AKIDe2eAccountA0000000000000000001/2024-01-01/scf/tc3_request, Signature=abc",
    "garbage",
    "Bearer abc.def",
])
def test_malformed_authorization(server, auth):
    r = raw_tc3(server, "ListNamespaces", {}, authorization=auth)
    assert api_error(r) == "AuthFailure.InvalidAuthorization"


def test_unknown_secret_id_tc3(server):
    r = raw_tc3(server, "ListNamespaces", {}, secret_id="AKIDdoesnotexist000000000000000000")
    assert api_error(r) == "AuthFailure.SecretIdNotFound"


def test_unknown_secret_id_v1(server):
    r = raw_v1(server, "ListNamespaces", {}, secret_id="AKIDdoesnotexist000000000000000000")
    assert api_error(r) == "AuthFailure.SecretIdNotFound"


def test_unknown_secret_id_sdk(server):
    api = server.client(Account("AKIDnobody000000000000000000000000", "k", 1, "1"))
    api.expect("AuthFailure.SecretIdNotFound", "ListNamespaces")


def test_wrong_secret_key_sdk(server):
    api = server.client(Account(ACCOUNT_A.secret_id, "not-the-key", 1, "1"))
    api.expect("AuthFailure.SignatureFailure", "ListNamespaces")


def test_wrong_secret_key_tc3(server):
    r = raw_tc3(server, "ListNamespaces", {}, secret_key="wrong")
    assert api_error(r) == "AuthFailure.SignatureFailure"


def test_tampered_body_tc3(server):
    name = uniq("tamper")
    signed = json.dumps({"Namespace": name}).encode()
    sent = json.dumps({"Namespace": name + "x"}).encode()
    r = raw_tc3(server, "CreateNamespace", body=sent, sign_body=signed)
    assert api_error(r) == "AuthFailure.SignatureFailure"
    assert name + "x" not in server.client().namespaces()


def test_host_header_differs_from_signed_host(server):
    # signed for one Host, sent with another: the signature covers the raw Host header
    r = raw_tc3(server, "ListNamespaces", {}, sign_host="127.0.0.1:1")
    assert api_error(r) == "AuthFailure.SignatureFailure"


def test_unsigned_payload_and_english(server):
    api = server.client(unsigned_payload=True, language="en-US")
    name = uniq("unsigned")
    api.call("CreateNamespace", Namespace=name)
    assert name in api.namespaces()


def test_tc3_credential_scope_for_another_service(server):
    # a signature computed for service `cvm` must not be accepted by scf
    ts = int(time.time())
    body = b"{}"
    date = time.strftime("%Y-%m-%d", time.gmtime(ts))
    canonical = "\n".join(["POST", "/", "", f"content-type:application/json\nhost:{server.endpoint}\n",
                           "content-type;host", hashlib.sha256(body).hexdigest()])
    scope = f"{date}/cvm/tc3_request"
    sts = "\n".join(["TC3-HMAC-SHA256", str(ts), scope, hashlib.sha256(canonical.encode()).hexdigest()])
    sig = Sign.sign_tc3(ACCOUNT_A.secret_key, date, "cvm", sts)
    auth = f"TC3-HMAC-SHA256 Credential={ACCOUNT_A.secret_id}/{scope}, SignedHeaders=content-type;host, Signature={sig}"
    r = raw_tc3(server, "ListNamespaces", body=body, timestamp=ts, authorization=auth)
    assert api_error(r) in ("AuthFailure.SignatureFailure", "AuthFailure.InvalidAuthorization")


def test_tc3_credential_date_must_match_timestamp(server):
    ts = int(time.time())
    body = b"{}"
    date = time.strftime("%Y-%m-%d", time.gmtime(ts - 86400 * 2))
    canonical = "\n".join(["POST", "/", "", f"content-type:application/json\nhost:{server.endpoint}\n",
                           "content-type;host", hashlib.sha256(body).hexdigest()])
    scope = f"{date}/scf/tc3_request"
    sts = "\n".join(["TC3-HMAC-SHA256", str(ts), scope, hashlib.sha256(canonical.encode()).hexdigest()])
    sig = Sign.sign_tc3(ACCOUNT_A.secret_key, date, "scf", sts)
    auth = f"TC3-HMAC-SHA256 Credential={ACCOUNT_A.secret_id}/{scope}, SignedHeaders=content-type;host, Signature={sig}"
    r = raw_tc3(server, "ListNamespaces", body=body, timestamp=ts, authorization=auth)
    assert api_error(r) in ("AuthFailure.SignatureFailure", "AuthFailure.InvalidAuthorization")


def test_v1_without_signature_method_defaults_to_sha1(server):
    # reference 2.5: HMAC-SHA256 only when SignatureMethod == HmacSHA256, otherwise HMAC-SHA1
    p = {"Action": "ListNamespaces", "Nonce": 4242, "Timestamp": int(time.time()), "Version": "2018-04-16",
         "Region": REGION, "SecretId": ACCOUNT_A.secret_id}
    joined = "&".join(f"{k}={p[k]}" for k in sorted(p))
    p["Signature"] = Sign.sign(ACCOUNT_A.secret_key, f"POST{server.endpoint}/?{joined}", "HmacSHA1")
    r = requests.post(server.base_url + "/", data=urlencode(p),
                      headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10)
    resp = api_json(r)
    assert "Error" not in resp, resp
    assert "default" in [n["Name"] for n in resp["Namespaces"]]


def test_wrong_secret_key_v1(server):
    r = raw_v1(server, "ListNamespaces", {}, secret_key="wrong")
    assert api_error(r) == "AuthFailure.SignatureFailure"


def test_tampered_param_v1(server):
    name = uniq("tamper")
    p = v1_params(server, "CreateNamespace", {"Namespace": name})
    p["Namespace"] = name + "x"
    r = requests.post(server.base_url + "/", data=urlencode(p),
                      headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10)
    assert api_error(r) == "AuthFailure.SignatureFailure"
    assert name + "x" not in server.client().namespaces()


@pytest.mark.parametrize("skew", [-600, 600, -305, 305])
def test_tc3_timestamp_out_of_window(server, skew):
    r = raw_tc3(server, "ListNamespaces", {}, timestamp=int(time.time()) + skew)
    assert api_error(r) == "AuthFailure.SignatureExpire"


@pytest.mark.parametrize("skew", [-600, 600])
def test_v1_timestamp_out_of_window(server, skew):
    r = raw_v1(server, "ListNamespaces", {}, timestamp=int(time.time()) + skew)
    assert api_error(r) == "AuthFailure.SignatureExpire"


@pytest.mark.parametrize("skew", [-200, 200])
def test_timestamp_within_window_is_accepted(server, skew):
    r = raw_tc3(server, "ListNamespaces", {}, timestamp=int(time.time()) + skew)
    assert "Error" not in api_json(r)
    r = raw_v1(server, "ListNamespaces", {}, timestamp=int(time.time()) + skew)
    assert "Error" not in api_json(r)


def test_tc3_extra_signed_headers(server):
    # The official demo signs content-type;host;x-tc-action; the server must rebuild the
    # canonical headers from SignedHeaders.
    r = raw_tc3(server, "ListNamespaces", {}, signed_headers=["content-type", "host", "x-tc-action"])
    resp = api_json(r)
    assert "Error" not in resp, resp
    assert "default" in [n["Name"] for n in resp["Namespaces"]]


def test_host_with_scheme_like_tccli(server):
    api = server.client(endpoint=f"http://{server.endpoint}")
    assert "default" in api.namespaces()


def test_v1_sha1_and_sha256_raw(server):
    for m in ("HmacSHA1", "HmacSHA256"):
        for verb in ("GET", "POST"):
            resp = api_json(raw_v1(server, "ListNamespaces", {"Limit": 5}, method=verb, sign_method=m))
            assert "Error" not in resp, (m, verb, resp)
            assert "default" in [n["Name"] for n in resp["Namespaces"]]


# ---------------------------------------------------------------------------------------
# action / version / region
# ---------------------------------------------------------------------------------------


def test_missing_action(server):
    r = raw_tc3(server, None, {})
    assert api_error(r) == "MissingParameter"


def test_unknown_action_sdk(api):
    api.expect("InvalidAction", "FooBar", {}, raw=True)


def test_unknown_action_v1(server):
    assert api_error(raw_v1(server, "FooBar", {})) == "InvalidAction"


def test_unimplemented_scf_action(api):
    api.expect("UnsupportedOperation", "CreateTrigger", {
        "FunctionName": "whatever", "TriggerName": "t1", "Type": "timer", "TriggerDesc": "0 */5 * * * * *",
    })


def test_wrong_version(server):
    r = raw_tc3(server, "ListNamespaces", {}, version="2017-01-01")
    assert api_error(r) == "NoSuchVersion"


def test_wrong_version_v1(server):
    r = raw_v1(server, "ListNamespaces", {}, version="2017-01-01")
    assert api_error(r) == "NoSuchVersion"


def test_missing_version(server):
    r = raw_tc3(server, "ListNamespaces", {}, version=None)
    assert api_error(r) == "MissingParameter"


def test_unknown_region_sdk(server):
    server.client(region="xx-nowhere").expect("UnsupportedRegion", "ListNamespaces")


def test_unknown_region_v1(server):
    assert api_error(raw_v1(server, "ListNamespaces", {}, region="xx-nowhere")) == "UnsupportedRegion"


def test_default_region_list_accepts_public_regions(server):
    for region in ("ap-beijing", "ap-shanghai", "ap-chengdu", "ap-hongkong", "ap-singapore", "na-siliconvalley"):
        assert "default" in server.client(region=region).namespaces(), region


def test_configured_region_list(make_server):
    s = make_server(regions=[REGION, OTHER_REGION])
    assert "default" in s.client(region=OTHER_REGION).namespaces()
    s.client(region="ap-beijing").expect("UnsupportedRegion", "ListNamespaces")


def test_namespaces_are_per_region(server):
    name = uniq("reg")
    server.client(region=REGION).call("CreateNamespace", Namespace=name)
    assert name in server.client(region=REGION).namespaces()
    assert name not in server.client(region=OTHER_REGION).namespaces()


def test_request_without_region_uses_default_region(make_server):
    s = make_server(default_region=OTHER_REGION)
    name = uniq("noreg")
    r = raw_tc3(s, "CreateNamespace", {"Namespace": name}, region=None)
    assert "Error" not in api_json(r)
    assert name in s.client(region=OTHER_REGION).namespaces()
    assert name not in s.client(region=REGION).namespaces()
    # the SDK omits X-TC-Region when the region is empty
    name2 = uniq("noreg")
    s.client(region="").call("CreateNamespace", Namespace=name2)
    assert name2 in s.client(region=OTHER_REGION).namespaces()
    # and v1 without the Region parameter
    name3 = uniq("noreg")
    assert "Error" not in api_json(raw_v1(s, "CreateNamespace", {"Namespace": name3}, region=None))
    assert name3 in s.client(region=OTHER_REGION).namespaces()
    assert name3 not in s.client(region=REGION).namespaces()


# ---------------------------------------------------------------------------------------
# parameters
# ---------------------------------------------------------------------------------------


def test_missing_required_parameter(api):
    api.expect("MissingParameter", "CreateNamespace", {})


def test_missing_required_parameter_function_name(api):
    api.expect("MissingParameter", "GetFunctionAddress", {}, raw=True)


def test_unknown_parameter(api):
    name = uniq("unk")
    api.expect("UnknownParameter", "CreateNamespace", {"Namespace": name, "Bogus": 1}, raw=True)
    assert name not in api.namespaces()


def test_unknown_parameter_v1(server):
    assert api_error(raw_v1(server, "ListNamespaces", {"Bogus": "1"})) == "UnknownParameter"


def test_wrong_type_json(api):
    api.expect("InvalidParameter", "ListNamespaces", {"Limit": "abc"}, raw=True)


def test_wrong_type_json_string_for_string_field(api):
    api.expect("InvalidParameter", "CreateNamespace", {"Namespace": 12345}, raw=True)


def test_wrong_type_get(server):
    api = server.client(req_method="GET")
    api.expect("InvalidParameter", "ListNamespaces", {"Limit": "abc"}, raw=True)


def test_wrong_type_v1_form(server):
    assert api_error(raw_v1(server, "ListNamespaces", {"Limit": "abc"})) == "InvalidParameter"


def test_get_numeric_strings_are_coerced(server):
    api = server.client(req_method="GET")
    resp = api.call("ListNamespaces", Limit=1, Offset=0)
    assert len(resp["Namespaces"]) == 1


@pytest.mark.parametrize("body", ['{"Namespace": ', "not json at all", '{"Namespace": "a",}', "", "[1, 2]", '"str"'])
def test_malformed_json_body(server, body):
    r = raw_tc3(server, "CreateNamespace", body=body)
    assert api_error(r) == "InvalidParameter"


# ---------------------------------------------------------------------------------------
# rate limiting
# ---------------------------------------------------------------------------------------


def test_rate_limit_per_account_and_action(make_server):
    s = make_server(rate_limits={"ListNamespaces": 2})
    a = s.client(ACCOUNT_A)
    ok = limited = 0
    for _ in range(10):
        try:
            a.call("ListNamespaces")
            ok += 1
        except TencentCloudSDKException as e:
            assert e.get_code() == "RequestLimitExceeded", e
            limited += 1
    assert ok >= 1, "the first request must pass"
    assert limited >= 5, f"only {limited} of 10 rapid requests were limited at 2/s"
    # other actions of the same account are not affected
    for _ in range(10):
        a.call("ListFunctions")
    # another account is not affected
    b = s.client(ACCOUNT_B)
    b.call("ListNamespaces")
    b.call("ListNamespaces")


def test_rate_limit_refills(make_server):
    s = make_server(rate_limits={"ListNamespaces": 2})
    a = s.client(ACCOUNT_A)
    limited = False
    for _ in range(10):
        try:
            a.call("ListNamespaces")
        except TencentCloudSDKException as e:
            assert e.get_code() == "RequestLimitExceeded"
            limited = True
    assert limited

    def passes():
        try:
            a.call("ListNamespaces")
            return True
        except TencentCloudSDKException as e:
            assert e.get_code() == "RequestLimitExceeded"
            return False

    poll(passes, timeout=3, interval=0.2)


def test_rate_limit_default_applies_and_zero_means_unlimited(make_server):
    s = make_server(rate_limits={"default": 2, "ListNamespaces": 0})
    a = s.client(ACCOUNT_A)
    for _ in range(15):
        a.call("ListNamespaces", Limit=1)
    limited = 0
    for _ in range(10):
        try:
            a.call("ListFunctions")
        except TencentCloudSDKException as e:
            assert e.get_code() == "RequestLimitExceeded", e
            limited += 1
    assert limited >= 5


def test_rate_limit_zero_default_is_unlimited(server):
    api = server.client()
    for _ in range(40):
        api.call("ListNamespaces", Limit=1)
