//! `tributary`: one binary for every role of the media server.

fn main() {
    println!("tributary");
}
