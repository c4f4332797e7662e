/**
 * The command's help, written the way a user of ssh expects it: the usage line names the
 * whole command (`$ ssh-auth connect …`), lines fit the terminal (80 columns when the output
 * is not a terminal), no escape sequence unless the output is a terminal and `NO_COLOR` is
 * not set, and none of @effect/cli's stand-in text ("A user-defined piece of text.") where
 * an option says nothing of its own. The content (descriptions, options, arguments) is
 * @effect/cli's own `HelpDoc`; only the layout is ours.
 *
 * @since 0.1.0
 */
import * as CliConfig from "@effect/cli/CliConfig"
import * as Descriptor from "@effect/cli/CommandDescriptor"
import type * as HelpDoc from "@effect/cli/HelpDoc"
import type * as Span from "@effect/cli/HelpDoc/Span"
import * as Usage from "@effect/cli/Usage"
import * as HashMap from "effect/HashMap"
import * as HashSet from "effect/HashSet"
import type { OutputStyle } from "./Output.js"

/**
 * @effect/cli's descriptions of a value's type that say nothing the usage line does not:
 * a text option is a "piece of text", a flag is "a true or false value" (a flag takes no
 * value at all). Left out of every option's and argument's help.
 */
const fillers = new Set([
  "A user-defined piece of text.",
  "A user-defined piece of text that is confidential.",
  "A true or false value."
])

// ---- the plain text of spans and blocks ----

const spanText = (span: Span.Span): string => {
  switch (span._tag) {
    case "Text":
    case "URI":
      return span.value
    case "Sequence":
      return spanText(span.left) + spanText(span.right)
    case "Highlight":
    case "Strong":
    case "Weak":
      return spanText(span.value)
  }
}

/** A document as its blocks in order: sequences flattened, empties dropped. */
const blocksOf = (doc: HelpDoc.HelpDoc): Array<Exclude<HelpDoc.HelpDoc, HelpDoc.Sequence | HelpDoc.Empty>> => {
  switch (doc._tag) {
    case "Empty":
      return []
    case "Sequence":
      return [...blocksOf(doc.left), ...blocksOf(doc.right)]
    default:
      return [doc]
  }
}

// ---- layout ----

/** Splits a line at its top-level spaces: `[(-p, --port integer)]` stays one piece. */
const usageTokens = (text: string): Array<string> => {
  const tokens: Array<string> = []
  let depth = 0
  let current = ""
  for (const ch of text) {
    if (ch === "(" || ch === "[" || ch === "<") depth++
    else if ((ch === ")" || ch === "]" || ch === ">") && depth > 0) depth--
    if (ch === " " && depth === 0) {
      if (current !== "") tokens.push(current)
      current = ""
    } else {
      current += ch
    }
  }
  if (current !== "") tokens.push(current)
  return tokens
}

/**
 * Fills `tokens` into lines of at most `width` columns: the first line starts at `indent`,
 * the rest at `hanging`. A token longer than a whole line is cut, so the bound always holds.
 */
const fill = (tokens: ReadonlyArray<string>, width: number, indent: number, hanging: number = indent): Array<string> => {
  const lines: Array<string> = []
  let line = ""
  let lead = indent
  const flush = () => {
    lines.push(" ".repeat(lead) + line)
    line = ""
    lead = hanging
  }
  for (const token of tokens) {
    let rest = token
    while (rest !== "") {
      const room = width - lead - (line === "" ? 0 : line.length + 1)
      if (rest.length <= room) {
        line = line === "" ? rest : `${line} ${rest}`
        rest = ""
      } else if (line !== "") {
        flush()
      } else {
        // A single word wider than the line: cut it.
        line = rest.slice(0, room)
        rest = rest.slice(room)
        flush()
      }
    }
  }
  if (line !== "" || lines.length === 0) flush()
  return lines
}

const words = (text: string): Array<string> => text.split(/\s+/).filter((w) => w !== "")

const bold = (style: OutputStyle) => (line: string): string => {
  if (!style.color) return line
  const start = line.length - line.trimStart().length
  return `${line.slice(0, start)}\x1b[1m${line.slice(start)}\x1b[0m`
}

/** One definition's body: its paragraphs (fillers left out), nested lists indented further. */
const definitionLines = (doc: HelpDoc.HelpDoc, indent: number, style: OutputStyle): Array<string> =>
  blocksOf(doc).flatMap((block) => {
    switch (block._tag) {
      case "Paragraph": {
        const text = spanText(block.value).trim()
        return text === "" || fillers.has(text) ? [] : fill(words(text), style.width, indent)
      }
      case "Header":
        return fill(words(spanText(block.value)), style.width, indent).map(bold(style))
      case "DescriptionList":
        return block.definitions.flatMap(([term, body]) => [
          ...fill(usageTokens(spanText(term)), style.width, indent, indent + 4).map(bold(style)),
          ...definitionLines(body, indent + 4, style)
        ])
      case "Enumeration":
        return block.elements.flatMap((element) => {
          const [first = "", ...rest] = definitionLines(element, indent + 2, style)
          return [`${" ".repeat(indent)}- ${first.slice(indent + 2)}`, ...rest]
        })
    }
  })

/**
 * A help document as text for `style`: section headers flush left, their content indented,
 * a blank line before each section and between the definitions of a list.
 *
 * @since 0.1.0
 * @category rendering
 */
export const render = (doc: HelpDoc.HelpDoc, style: OutputStyle): string => {
  const lines: Array<string> = []
  let inSection = false
  let previous: string | undefined
  for (const block of blocksOf(doc)) {
    switch (block._tag) {
      case "Header":
        if (lines.length > 0) lines.push("")
        lines.push(...fill(words(spanText(block.value)), style.width, 0).map(bold(style)))
        inSection = true
        break
      case "Paragraph": {
        const text = spanText(block.value)
        if (previous === "DescriptionList") lines.push("")
        // A usage line keeps its option groups whole, and wraps under itself.
        const usage = text.startsWith("$ ")
        const indent = inSection ? 2 : 0
        lines.push(...fill(usage ? usageTokens(text) : words(text), style.width, indent, usage ? indent + 4 : indent))
        break
      }
      case "DescriptionList": {
        // Names with a line each (a list of commands): two columns, as ssh-keygen's usage.
        const terms = block.definitions.map(([term]) => spanText(term))
        const bodies = block.definitions.map(([, body]) => blocksOf(body))
        const column = Math.max(...terms.map((t) => t.length)) + 4
        if (terms.length > 1 && column <= 20 && bodies.every((b) => b.length === 1 && b[0]._tag === "Paragraph")) {
          block.definitions.forEach(([, body], i) => {
            const [first, ...rest] = definitionLines(body, column, style)
            const term = `  ${terms[i]}`
            lines.push(`${bold(style)(term)}${(first ?? "").slice(term.length)}`, ...rest)
          })
          break
        }
        block.definitions.forEach(([term, body], i) => {
          if (i > 0) lines.push("")
          lines.push(...fill(usageTokens(spanText(term)), style.width, 2, 6).map(bold(style)))
          lines.push(...definitionLines(body, 6, style))
        })
        break
      }
      case "Enumeration":
        lines.push(...definitionLines(block, 2, style))
        break
    }
    previous = block._tag
  }
  return `${lines.join("\n")}\n`
}

// ---- which command, and its document ----

/**
 * A command's subcommands, in order. The program's are given (`Descriptor.getSubcommands`
 * maps a child that has subcommands of its own to its parent half, without them); below it,
 * the descriptor's, whose own children are leaves here, sorted by name. A leaf has none:
 * @effect/cli maps a leaf to itself.
 */
const childrenOf = (descriptor: Descriptor.Command<unknown>): Array<readonly [string, Descriptor.Command<unknown>]> => {
  const own = Descriptor.getNames(descriptor)
  return [...HashMap.toEntries(Descriptor.getSubcommands(descriptor))]
    .filter(([name]) => !HashSet.has(own, name))
    .sort(([a], [b]) => a.localeCompare(b))
}

/**
 * The program and its subcommands as help walks them.
 *
 * @since 0.1.0
 * @category models
 */
export interface Program {
  readonly name: string
  readonly version: string
  /** The program's command (`Command.descriptor`). */
  readonly command: Descriptor.Command<unknown>
  /** The subcommands' (`Command.descriptor`), as given to `Command.withSubcommands`, in the order help lists them. */
  readonly subcommands: ReadonlyArray<Descriptor.Command<unknown>>
}

const nameOf = (descriptor: Descriptor.Command<unknown>): string => [...HashSet.values(Descriptor.getNames(descriptor))][0] ?? ""

/** The commands on the way to `path` (the program's first), as far as they exist. */
const walk = (program: Program, path: ReadonlyArray<string>): Array<Descriptor.Command<unknown>> => {
  const chain: Array<Descriptor.Command<unknown>> = [program.command]
  for (const name of path.slice(1)) {
    const children = chainChildren(program, chain)
    const child = children.find(([n]) => n === name)
    if (child === undefined) break
    chain.push(child[1])
  }
  return chain
}

const chainChildren = (
  program: Program,
  chain: ReadonlyArray<Descriptor.Command<unknown>>
): Array<readonly [string, Descriptor.Command<unknown>]> =>
  chain.length === 1
    ? program.subcommands.map((c) => [nameOf(c), c] as const)
    : childrenOf(chain[chain.length - 1])

/** The paragraph under a document's DESCRIPTION header, as text. */
const descriptionOf = (doc: HelpDoc.HelpDoc): string => {
  const blocks = blocksOf(doc)
  const at = blocks.findIndex((b) => b._tag === "Header" && spanText(b.value) === "DESCRIPTION")
  const next = at >= 0 ? blocks[at + 1] : undefined
  return next?._tag === "Paragraph" ? spanText(next.value) : ""
}

const header = (text: string): HelpDoc.HelpDoc => ({ _tag: "Header", value: { _tag: "Text", value: text }, level: 1 })
const paragraph = (text: string): HelpDoc.HelpDoc => ({ _tag: "Paragraph", value: { _tag: "Text", value: text } })
const sequence = (docs: ReadonlyArray<HelpDoc.HelpDoc>): HelpDoc.HelpDoc =>
  docs.reduceRight<HelpDoc.HelpDoc>((right, left) => ({ _tag: "Sequence", left, right }), { _tag: "Empty" })

/**
 * Where help was asked for, if it was: @effect/cli's rule (`--help` or `-h` anywhere after
 * the program), or a command that has subcommands named without one (`ssh-auth`,
 * `ssh-auth key`). The path is the command names, from the program's down.
 *
 * @since 0.1.0
 * @category parsing
 */
export const helpRequest = (program: Program, args: ReadonlyArray<string>): ReadonlyArray<string> | undefined => {
  const chain: Array<Descriptor.Command<unknown>> = [program.command]
  const path = [program.name]
  let rest = args
  for (;;) {
    const children = chainChildren(program, chain)
    // As @effect/cli reads a command line: the first argument that names a subcommand.
    const index = rest.findIndex((arg) => children.some(([name]) => name === arg))
    if (index < 0) break
    const [name, child] = children.find(([n]) => n === rest[index])!
    path.push(name)
    chain.push(child)
    rest = rest.slice(index + 1)
  }
  const asked = args.includes("--help") || args.includes("-h")
  const bareParent = chainChildren(program, chain).length > 0 && rest.length === 0
  return asked || bareParent ? path : undefined
}

/**
 * The help for the command at `path` (as `helpRequest` gives it): name and version, the
 * usage line under the program's name, the description, arguments and options; a command
 * with subcommands lists them, one line each. The program's own help also lists the
 * options every command takes (`--help`, `--version`, `--log-level`, `--completions`).
 *
 * @since 0.1.0
 * @category rendering
 */
export const helpDoc = (program: Program, path: ReadonlyArray<string>): HelpDoc.HelpDoc => {
  const chain = walk(program, path)
  const descriptor = chain[chain.length - 1]
  const names = [program.name, ...chain.slice(1).map(nameOf)]
  const config = CliConfig.make({ showBuiltIns: chain.length === 1 })
  const children = chainChildren(program, chain)
  const prefix = names.slice(0, -1).join(" ")
  const usages = children.length > 0
    ? [`$ ${names.join(" ")} <command> [arguments]`]
    : Usage.enumerate(Descriptor.getUsage(descriptor), config).map((span) => `$ ${prefix === "" ? "" : `${prefix} `}${spanText(span)}`)
  // @effect/cli's list of subcommands pads every line to the longest usage; ours comes after.
  const own = blocksOf(Descriptor.getHelp(descriptor, config))
  const commandsAt = own.findIndex((b) => b._tag === "Header" && spanText(b.value) === "COMMANDS")
  const body = commandsAt >= 0 ? own.slice(0, commandsAt) : own
  const [first, ...others] = children.map(([name, child]): readonly [Span.Span, HelpDoc.HelpDoc] => [
    { _tag: "Text", value: name },
    paragraph(descriptionOf(Descriptor.getHelp(child, config)))
  ])
  const commands: Array<HelpDoc.HelpDoc> = first !== undefined
    ? [
      header("COMMANDS"),
      { _tag: "DescriptionList", definitions: [first, ...others] },
      paragraph(`Run \`${names.join(" ")} <command> --help\` for a command's arguments and options.`)
    ]
    : []
  return sequence([
    paragraph(`${program.name} ${program.version}`),
    header("USAGE"),
    ...usages.map(paragraph),
    ...body,
    ...commands
  ])
}
