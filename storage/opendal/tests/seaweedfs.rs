//! Against a real S3 server (SeaweedFS): what the crate docs promise.

use ftpsh_storage_opendal::testing::SeaweedFs;

#[test]
fn starts() {
    let Some(weed) = SeaweedFs::start_or_skip() else { return };
    weed.create_bucket("b").unwrap();
}
