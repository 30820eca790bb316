//! TorchScript code checks (Python tokenizer + patterns) on arbitrary text.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let code = modelgate::scanners::code::pytokens::code_only(&text);
    for line in code.lines() {
        let _ = modelgate::scanners::code::pytokens::find_token(line, "from_file(", false);
        let _ = modelgate::scanners::code::pytokens::find_token(line, "eval(", true);
    }
});
