/// A black-and-white raster (what a thermal printer prints), with QR codes drawn into it at a whole number of
/// pixels per module, written as a 1-bit grayscale PNG by the same minimal encoder as `QRCode.png`.
public struct Bitmap: Sendable {
    public let width: Int
    public private(set) var height: Int
    /// `width * height` pixels, row by row; true is black.
    public private(set) var pixels: [Bool]

    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
        pixels = [Bool](repeating: false, count: width * height)
    }

    public func isBlack(x: Int, y: Int) -> Bool { pixels[y * width + x] }

    /// Sets one pixel; outside the raster nothing happens.
    public mutating func set(x: Int, y: Int, black: Bool = true) {
        guard x >= 0, x < width, y >= 0, y < height else { return }
        pixels[y * width + x] = black
    }

    /// Fills a rectangle (clipped to the raster).
    public mutating func fill(x: Int, y: Int, width w: Int, height h: Int, black: Bool = true) {
        for py in max(0, y)..<min(height, y + h) {
            for px in max(0, x)..<min(width, x + w) { pixels[py * width + px] = black }
        }
    }

    /// Adds white rows at the bottom (or removes rows) so that the raster is `newHeight` high.
    public mutating func resize(height newHeight: Int) {
        if newHeight < height {
            pixels.removeLast((height - newHeight) * width)
        } else {
            pixels += [Bool](repeating: false, count: (newHeight - height) * width)
        }
        height = newHeight
    }

    /// Draws `code` with its top left module at (`x`, `y`), `moduleSize` pixels per module. The quiet zone is the
    /// caller's: leave `QRCode.quietZone` modules of white around it.
    public mutating func draw(_ code: QRCode, x: Int, y: Int, moduleSize: Int) {
        for my in 0..<code.width {
            for mx in 0..<code.width where code.isDark(x: mx, y: my) {
                fill(x: x + mx * moduleSize, y: y + my * moduleSize, width: moduleSize, height: moduleSize)
            }
        }
    }

    /// PNG: 1-bit grayscale (0 black, 1 white), no interlace.
    public func png() -> [UInt8] {
        let rowBytes = (width + 7) / 8
        var scanlines = [UInt8]()
        scanlines.reserveCapacity((rowBytes + 1) * height)
        for y in 0..<height {
            scanlines.append(0)  // filter: none
            var row = [UInt8](repeating: 0xFF, count: rowBytes)
            for x in 0..<width where pixels[y * width + x] { row[x >> 3] &= ~(0x80 >> UInt8(x & 7)) }
            scanlines += row
        }
        return PNG.encode(width: width, height: height, bitDepth: 1, scanlines: scanlines)
    }
}
