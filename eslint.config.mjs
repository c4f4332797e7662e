// Lint and format as Effect's own repositories do: typescript-eslint's recommended rules and
// the dprint formatter through @effect/eslint-plugin, with Effect's settings.
import effect from "@effect/eslint-plugin"
import tseslint from "typescript-eslint"

export default tseslint.config(
  { ignores: ["dist/**", "dist-bench/**", "docs/**", "node_modules/**", ".tmp/**", "**/*.mjs", "**/*.cjs", "bin/**"] },
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    plugins: { "@effect": effect },
    rules: {
      "@effect/dprint": ["error", {
        config: {
          indentWidth: 2,
          lineWidth: 160,
          semiColons: "asi",
          quoteStyle: "alwaysDouble",
          trailingCommas: "never",
          operatorPosition: "maintain",
          "arrowFunction.useParentheses": "force"
        }
      }],
      // Types are checked by tsc (strict, noUnused*); these overlap it or forbid what the code does on purpose.
      "@typescript-eslint/no-unused-vars": "off",
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-namespace": "off",
      "@typescript-eslint/no-empty-object-type": "off",
      // A generator cannot be an arrow function: `const self = this` is how it reaches its object.
      "@typescript-eslint/no-this-alias": "off",
      // A finalizer registered before the value exists reads it later.
      "prefer-const": ["error", { ignoreReadBeforeAssign: true }]
    }
  }
)
