@main
struct WhizbangSample {
    static func main() {
        print("Whizbang sample")
    }
}
