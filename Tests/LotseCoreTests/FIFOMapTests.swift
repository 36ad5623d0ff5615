import LotseCore
import Testing

/// `FIFOMap`: a full map lets go of its oldest entry for each new one, never of more, and never keeps more than its
/// capacity (the case page's memos rely on both: a steady cost per request, a bounded memory).
@Suite struct FIFOMapTests {
    @Test func aFullMapDropsTheOldestEntryForEachNewOne() {
        var map = FIFOMap<Int, String>(capacity: 3)
        for key in 1...3 { map.insert("v\(key)", for: key) }
        #expect(map.count == 3)
        map.insert("v4", for: 4)
        #expect(map.count == 3)
        #expect(map[1] == nil)
        #expect(map[2] == "v2" && map[3] == "v3" && map[4] == "v4")
        map.insert("v5", for: 5)
        #expect(map[2] == nil && map[5] == "v5")
    }

    @Test func replacingAValueTakesNoSlot() {
        var map = FIFOMap<Int, String>(capacity: 2)
        map.insert("a", for: 1)
        map.insert("b", for: 2)
        map.insert("b2", for: 2)
        map.insert("a2", for: 1)
        #expect(map.count == 2)
        #expect(map[1] == "a2" && map[2] == "b2")
    }

    @Test func removedKeysAndTheirReturnNeverExceedTheCapacity() {
        var map = FIFOMap<Int, Int>(capacity: 50)
        var generator = SystemRandomNumberGenerator()
        for step in 0..<20_000 {
            let key = Int.random(in: 0..<200, using: &generator)
            if step % 3 == 0 {
                map.removeValue(for: key)
                #expect(map[key] == nil)
            } else {
                map.insert(step, for: key)
                #expect(map[key] == step)
            }
            #expect(map.count <= 50)
        }
        map.removeAll()
        #expect(map.count == 0)
        for key in 0..<50 { map.insert(key, for: key) }
        #expect(map.count == 50)
    }
}
