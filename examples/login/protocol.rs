//! The login example's protocol: three APIs under `login/`.

use serde::{Deserialize, Serialize};

/// API "login/Login".
#[tsrpc::api(name = "login/Login")]
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ReqLogin {
    /// Who logs in.
    pub username: String,
    /// The demo accepts the password `tsrpc` for every user.
    pub password: String,
}

/// The response of "login/Login".
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ResLogin {
    /// For HTTP calls: send it as `authorization: Bearer <token>`.
    pub token: String,
}

/// API "login/GetSecret": only for logged-in users.
#[tsrpc::api(name = "login/GetSecret")]
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ReqGetSecret {}

/// The response of "login/GetSecret".
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ResGetSecret {
    /// Who asked.
    pub user: String,
    /// The secret.
    pub secret: String,
}

/// API "login/Logout".
#[tsrpc::api(name = "login/Logout")]
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ReqLogout {}

/// The response of "login/Logout".
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ResLogout {}
