//! An uploaded file that says it is a picture (concord_pictures): its
//! format recognised by its bytes, then decoded under the server's limits,
//! turned upright and thumbnailed — nothing panics, runs away or blows up
//! memory (libFuzzer's -rss_limit_mb), and a picture that decodes has a size.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(format) = concord_pictures::recognise(data) {
        if let Ok(picture) = concord_pictures::process(data.to_vec(), format) {
            assert!(picture.width > 0 && picture.height > 0);
        }
    }
});
