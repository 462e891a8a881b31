//! The one table of Tencent error codes that scfd can answer with.
//!
//! Codes are API: a variant's string never changes by accident (a test checks every one against
//! Tencent's published list in `official_codes.txt`). Messages are ours and may improve. Every
//! crate maps its own error enum onto these variants in one `match`.

use std::fmt;
use std::sync::Arc;

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

/// What went wrong underneath an [`ApiError`], for the server log only.
pub type Source = Arc<dyn std::error::Error + Send + Sync>;

/// An error as the API answers it: a code and a message for people.
///
/// A failure the caller cannot act on (the store, the disk, a panicked task) carries its
/// cause in `source`: the answer says only "see the server log", and the gateway's one error
/// path writes the cause there, once. The source is not part of the answer, so two errors that
/// answer alike are equal whatever their sources.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    source: Option<Source>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the cause, for the log (a `String` will do as well as an error).
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        self.source = Some(Arc::from(source.into()));
        self
    }

    /// The attached cause, if any.
    pub fn cause(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.source.as_deref()
    }
}

impl PartialEq for ApiError {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code && self.message == other.message
    }
}

impl Eq for ApiError {}

/// `code: message`, then the cause when one is attached: whoever logs an `ApiError` with `%`
/// (a background task, a start-up failure) keeps the detail that the answer leaves out.
impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        match &self.source {
            Some(source) => write!(f, " ({source})"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

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
    fn a_source_is_for_the_log_not_the_answer() {
        let plain = ApiError::new(ErrorCode::InternalError, "see the log");
        let with = plain.clone().with_source("disk I/O error");
        assert_eq!(plain, with, "equal: they answer alike");
        assert_eq!(with.message, "see the log");
        assert_eq!(
            with.cause().map(|s| s.to_string()).as_deref(),
            Some("disk I/O error")
        );
        assert_eq!(
            with.to_string(),
            "InternalError: see the log (disk I/O error)"
        );
        assert_eq!(plain.to_string(), "InternalError: see the log");
        assert!(std::error::Error::source(&with).is_some());
    }

    #[test]
    fn codes_are_unique() {
        let set: HashSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(set.len(), ErrorCode::ALL.len());
    }
}
