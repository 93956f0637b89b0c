use serde::{Deserialize, Serialize};
use tsrpc::Api;

#[tsrpc::api]
#[derive(Serialize, Deserialize)]
pub struct ReqLogin {
    pub user: String,
}

#[derive(Serialize, Deserialize)]
pub struct ResLogin {
    pub token: String,
}

#[tsrpc::api(name = "user/Logout", res = Done)]
#[derive(Serialize, Deserialize)]
pub struct ReqLogout {}

#[derive(Serialize, Deserialize)]
pub struct Done {}

/// No `Req` prefix: both the name and the response are given.
#[tsrpc::api(res = Done, name = "v2.room-list/get_all")]
#[derive(Serialize, Deserialize)]
pub struct ListRooms {}

mod nested {
    #[tsrpc::api]
    #[derive(serde::Serialize, serde::Deserialize)]
    pub struct ReqPing {}

    #[derive(serde::Serialize, serde::Deserialize)]
    pub struct ResPing {}
}

fn main() {
    assert_eq!(ReqLogin::NAME, "Login");
    assert_eq!(ReqLogout::NAME, "user/Logout");
    assert_eq!(ListRooms::NAME, "v2.room-list/get_all");
    assert_eq!(nested::ReqPing::NAME, "Ping");
    let _: Option<<ReqLogout as Api>::Res> = Some(Done {});
    let table = tsrpc::ServiceTable::global().unwrap();
    assert_eq!(table.len(), 4);
    assert!(table.api("Ping").unwrap().location().path.ends_with("nested::ReqPing"));
}
