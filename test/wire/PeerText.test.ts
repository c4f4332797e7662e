/**
 * A peer's text, shown: every control character escaped as ssh's strnvis would, lines kept
 * only where asked, and every piece cut to its bound.
 */
import * as fc from "fast-check"
import { describe, expect, it } from "vitest"
import { printable, safeJson, show, showList } from "../../src/wire/PeerText.js"

// What no terminal may receive from a peer: C0 (bar \n and \t where lines are kept), DEL, C1, bidi overrides.
const dangerous = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u2028-\u202e\u2066-\u2069]/

describe("PeerText", () => {
  it("escapes ESC, CR, BEL, DEL, 8-bit CSI and bidi overrides; keeps printable UTF-8", () => {
    expect(printable("\u001b[31mred\u001b[0m")).toBe("\\033[31mred\\033[0m")
    expect(printable("a\rb\u0007c\u007fd")).toBe("a\\015b\\007c\\177d")
    expect(printable("\u009b2J")).toBe("\\2332J")
    expect(printable("abc\u202eevil")).toBe("abc\\u202eevil")
    expect(printable("héllo wörld ✓")).toBe("héllo wörld ✓")
    expect(printable("two\nlines\tand tab")).toBe("two\\012lines\\011and tab")
    expect(printable("two\nlines\tand tab", { multiline: true })).toBe("two\nlines\tand tab")
  })

  it("cuts long text and says how much was left out", () => {
    expect(show("x".repeat(300), 10)).toBe("xxxxxxxxxx… (290 more characters)")
    // Escapes count against the bound, and none is cut in half.
    expect(show("\u202e".repeat(300), 10)).toBe("\\u202e… (299 more characters)")
    expect(show("ab\u001b[2J", 6)).toBe("ab\\033… (3 more characters)")
    expect(showList(Array.from({ length: 50_000 }, (_, i) => `alg${i}`)).length).toBeLessThan(300)
    expect(showList(["a", "b"])).toBe("a,b")
  })

  it("safeJson writes C1 and bidi characters as \\u escapes, and stays JSON", () => {
    const value = { banner: "a\u009b2Jb\u202ec\u001b" }
    const text = safeJson(value, 2)
    expect(text).toContain("\\u009b")
    expect(text).toContain("\\u202e")
    expect(text).toContain("\\u001b")
    expect(dangerous.test(text)).toBe(false)
    expect(JSON.parse(text)).toEqual(value)
  })

  it("whatever the input, the output has no dangerous character and a bounded length", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 2000 }), fc.boolean(), (text, multiline) => {
        const out = show(text, 256, { multiline })
        expect(dangerous.test(out.replace(multiline ? /[\n\t]/g : /$^/g, ""))).toBe(false)
        if (!multiline) expect(/[\n\t]/.test(out)).toBe(false)
        // The bound holds after escaping: 256 shown characters, then the count of the rest.
        expect(out.length).toBeLessThanOrEqual(256 + 40)
      }),
      { numRuns: 2000 }
    )
  })
})
