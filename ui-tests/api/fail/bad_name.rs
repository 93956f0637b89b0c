use serde::{Deserialize, Serialize};

#[tsrpc::api(name = "user login")]
#[derive(Serialize, Deserialize)]
pub struct ReqLogin {}

#[tsrpc::api(name = "/user//Logout")]
#[derive(Serialize, Deserialize)]
pub struct ReqLogout {}

#[tsrpc::api(name = 42)]
#[derive(Serialize, Deserialize)]
pub struct ReqNumber {}

#[derive(Serialize, Deserialize)]
pub struct ResLogin {}

#[derive(Serialize, Deserialize)]
pub struct ResLogout {}

#[derive(Serialize, Deserialize)]
pub struct ResNumber {}

fn main() {}
