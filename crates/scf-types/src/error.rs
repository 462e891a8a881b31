//! The one table of Tencent error codes that scfd can answer with.
//!
//! Codes are API: a variant's string never changes by accident (a test checks every one against
//! Tencent's published list in `official_codes.txt`). Messages are ours and may improve. Every
//! crate maps its own error enum onto these variants in one `match`.

use std::fmt;

macro_rules! error_codes {
    ($($variant:ident = $code:literal,)*) => {
        /// Every Tencent error code scfd raises.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $($variant,)* }

        impl ErrorCode {
            /// All variants, for the table test.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code exactly as it goes on the wire.
            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }
        }
    };
}

error_codes! {
    // Common API 3.0 codes (reference §2.7).
    AuthInvalidAuthorization = "AuthFailure.InvalidAuthorization",
    AuthSecretIdNotFound = "AuthFailure.SecretIdNotFound",
    AuthSignatureExpire = "AuthFailure.SignatureExpire",
    AuthSignatureFailure = "AuthFailure.SignatureFailure",
    InternalError = "InternalError",
    InvalidAction = "InvalidAction",
    InvalidParameter = "InvalidParameter",
    InvalidParameterValue = "InvalidParameterValue",
    MissingParameter = "MissingParameter",
    NoSuchVersion = "NoSuchVersion",
    RequestLimitExceeded = "RequestLimitExceeded",
    RequestSizeLimitExceeded = "RequestSizeLimitExceeded",
    UnknownParameter = "UnknownParameter",
    UnsupportedOperation = "UnsupportedOperation",
    UnsupportedProtocol = "UnsupportedProtocol",
    UnsupportedRegion = "UnsupportedRegion",
    ServiceUnavailable = "ServiceUnavailable",
    // SCF codes (reference §7).
    FailedOperationDeleteNamespace = "FailedOperation.DeleteNamespace",
    InvalidParameterValueCode = "InvalidParameterValue.Code",
    InvalidParameterValueDefaultNamespace = "InvalidParameterValue.DefaultNamespace",
    InvalidParameterValueDescription = "InvalidParameterValue.Description",
    InvalidParameterValueEnvironment = "InvalidParameterValue.Environment",
    InvalidParameterValueEnvironmentExceededLimit = "InvalidParameterValue.EnvironmentExceededLimit",
    InvalidParameterValueEnvironmentSystemProtect = "InvalidParameterValue.EnvironmentSystemProtect",
    InvalidParameterValueFilters = "InvalidParameterValue.Filters",
    InvalidParameterValueFunctionName = "InvalidParameterValue.FunctionName",
    InvalidParameterValueHandler = "InvalidParameterValue.Handler",
    InvalidParameterValueLimit = "InvalidParameterValue.Limit",
    InvalidParameterValueMemorySize = "InvalidParameterValue.MemorySize",
    InvalidParameterValueNamespaceInvalid = "InvalidParameterValue.NamespaceInvalid",
    InvalidParameterValueOffset = "InvalidParameterValue.Offset",
    InvalidParameterValueOrder = "InvalidParameterValue.Order",
    InvalidParameterValueOrderBy = "InvalidParameterValue.OrderBy",
    InvalidParameterValueRuntime = "InvalidParameterValue.Runtime",
    InvalidParameterValueSearchKey = "InvalidParameterValue.SearchKey",
    InvalidParameterValueType = "InvalidParameterValue.Type",
    InvalidParameterValueZipFile = "InvalidParameterValue.ZipFile",
    InvalidParameterValueZipFileBase64 = "InvalidParameterValue.ZipFileBase64BinasciiError",
    LimitExceededInitTimeout = "LimitExceeded.InitTimeout",
    LimitExceededFunction = "LimitExceeded.Function",
    LimitExceededNamespace = "LimitExceeded.Namespace",
    LimitExceededTimeout = "LimitExceeded.Timeout",
    ResourceInUseFunction = "ResourceInUse.Function",
    ResourceInUseNamespace = "ResourceInUse.Namespace",
    ResourceNotFoundFunction = "ResourceNotFound.Function",
    ResourceNotFoundNamespace = "ResourceNotFound.Namespace",
    ResourceNotFoundVersion = "ResourceNotFound.Version",
    UnsupportedOperationCos = "UnsupportedOperation.Cos",
    // Invocation, request status, versions, concurrency, async events.
    FailedOperationAsyncEventStatus = "FailedOperation.AsyncEventStatus",
    FailedOperationFunctionStatusError = "FailedOperation.FunctionStatusError",
    FailedOperationInvokeFunction = "FailedOperation.InvokeFunction",
    FailedOperationOperationConflict = "FailedOperation.OperationConflict",
    FailedOperationInsufficientResources = "FailedOperation.InsufficientResources",
    InternalErrorSystem = "InternalError.System",
    InvalidParameterRequestTooLarge = "InvalidParameter.RequestTooLarge",
    InvalidParameterValueAsyncTriggerConfig = "InvalidParameterValue.AsyncTriggerConfig",
    InvalidParameterValueClientContext = "InvalidParameterValue.ClientContext",
    InvalidParameterValueDateTime = "InvalidParameterValue.DateTime",
    InvalidParameterValueFunctionRequestId = "InvalidParameterValue.FunctionRequestId",
    InvalidParameterValueInvokeType = "InvalidParameterValue.InvokeType",
    InvalidParameterValueParam = "InvalidParameterValue.Param",
    InvalidParameterValueRetCode = "InvalidParameterValue.RetCode",
    InvalidParameterValueStartTime = "InvalidParameterValue.StartTime",
    InvalidParameterValueStartTimeOrEndTime = "InvalidParameterValue.StartTimeOrEndTime",
    InvalidParameterValueStatus = "InvalidParameterValue.Status",
    LimitExceededFunctionReservedConcurrencyMemory = "LimitExceeded.FunctionReservedConcurrencyMemory",
    LimitExceededFunctionVersions = "LimitExceeded.FunctionVersions",
    LimitExceededMsgTtl = "LimitExceeded.MsgTTL",
    LimitExceededOffset = "LimitExceeded.Offset",
    LimitExceededQuota = "LimitExceeded.Quota",
    LimitExceededRetryNum = "LimitExceeded.RetryNum",
    OperationDeniedAccountIsolate = "OperationDenied.AccountIsolate",
    ResourceNotFoundAsyncEvent = "ResourceNotFound.AsyncEvent",
    ResourceNotFoundQualifier = "ResourceNotFound.Qualifier",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as the API answers it: a code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// Tencent's published codes, one a line (reference §2.7 and §7).
pub const OFFICIAL_CODES: &str = include_str!("official_codes.txt");

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_code_we_raise_is_an_official_tencent_code() {
        let official: HashSet<&str> = OFFICIAL_CODES
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect();
        assert!(
            official.len() > 380,
            "the list holds the 353 SCF codes and the common ones"
        );
        for code in ErrorCode::ALL {
            assert!(
                official.contains(code.as_str()),
                "{code} is not a Tencent code"
            );
        }
    }

    #[test]
    fn codes_are_unique() {
        let set: HashSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(set.len(), ErrorCode::ALL.len());
    }
}
