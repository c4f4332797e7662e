/**
 * The help's layout on its own: when escapes may be used and how wide a line may be, and
 * the rendering of @effect/cli's help documents within that width.
 */
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Span from "@effect/cli/HelpDoc/Span"
import { describe, expect, it } from "@effect/vitest"
import * as Help from "../../src/cli/Help.js"
import * as Output from "../../src/cli/Output.js"

describe("Output.outputStyle", () => {
  it("a pipe or a file: 80 columns, no escapes, whatever the environment says", () => {
    expect(Output.outputStyle({ isTTY: false, columns: 200 }, {})).toEqual({ width: 80, color: false })
    expect(Output.outputStyle({}, { TERM: "xterm-256color" })).toEqual({ width: 80, color: false })
  })

  it("a terminal: its width, and bold unless NO_COLOR is set (not empty) or TERM is dumb", () => {
    expect(Output.outputStyle({ isTTY: true, columns: 132 }, {})).toEqual({ width: 132, color: true })
    expect(Output.outputStyle({ isTTY: true, columns: 132 }, { NO_COLOR: "1" })).toEqual({ width: 132, color: false })
    expect(Output.outputStyle({ isTTY: true, columns: 132 }, { NO_COLOR: "" })).toEqual({ width: 132, color: true })
    expect(Output.outputStyle({ isTTY: true, columns: 132 }, { TERM: "dumb" })).toEqual({ width: 132, color: false })
  })

  it("a terminal that gives no width, or a silly one: 80, or at least 40", () => {
    expect(Output.outputStyle({ isTTY: true }, {}).width).toBe(80)
    expect(Output.outputStyle({ isTTY: true, columns: 0 }, {}).width).toBe(80)
    expect(Output.outputStyle({ isTTY: true, columns: 12 }, {}).width).toBe(40)
  })
})

describe("Help.render", () => {
  const plain = { width: 40, color: false }

  it("keeps every line within the width: words wrap, a usage line wraps at its option groups, a word too long is cut", () => {
    const doc = HelpDoc.blocks([
      HelpDoc.h1("USAGE"),
      HelpDoc.p("$ ssh-auth connect [(-p, --port integer)] [(-l, --login text)] <destination>"),
      HelpDoc.h1("DESCRIPTION"),
      HelpDoc.p(`words ${"x".repeat(100)} and more words after the long one, to wrap`)
    ])
    const lines = Help.render(doc, { width: 50, color: false }).trimEnd().split("\n")
    expect(lines.filter((l) => l.length > 50)).toEqual([])
    expect(lines).toContain("  $ ssh-auth connect [(-p, --port integer)]")
    expect(lines).toContain("      [(-l, --login text)] <destination>")
    expect(lines.join("").replace(/\s/g, "")).toContain("x".repeat(100))
  })

  it("leaves out @effect/cli's stand-in descriptions, and keeps the option's own", () => {
    const option = HelpDoc.descriptionList([[
      Span.text("(-l, --login text)"),
      HelpDoc.blocks([HelpDoc.p("A user-defined piece of text."), HelpDoc.p("user to log in as")])
    ]])
    const text = Help.render(HelpDoc.blocks([HelpDoc.h1("OPTIONS"), option]), plain)
    expect(text).toBe("OPTIONS\n  (-l, --login text)\n      user to log in as\n")
  })

  it("bold headers and terms only when the style allows escapes", () => {
    const doc = HelpDoc.blocks([HelpDoc.h1("OPTIONS"), HelpDoc.descriptionList([[Span.text("--json"), HelpDoc.p("as JSON")]])])
    expect(Help.render(doc, { width: 80, color: true })).toBe("\x1b[1mOPTIONS\x1b[0m\n  \x1b[1m--json\x1b[0m\n      as JSON\n")
    expect(Help.render(doc, { width: 80, color: false })).not.toContain("\x1b")
  })
})
