--- flexiroam completion bash|zsh: the shell's completion script, made by
-- lua-argparse from the same grammar the command line parses with, with
-- one addition for bash: --profile completes the config's profile names
-- (asked of the very command being completed, as raw CSV: a name such as
-- "-eu" must not come back guarded as a formula).
--   source <(flexiroam completion bash)
--   flexiroam completion zsh > "${fpath[1]}/_flexiroam"
local PROFILE_FILES = '-p|--profile)\n            COMPREPLY=($(compgen -f -- "$cur"))'
local PROFILE_NAMES = '-p|--profile)\n            COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" config profiles ' ..
  '-o csv --csv-raw --fields profile 2>/dev/null | tail -n +2)" -- "$cur"))'

local function bash(p)
  local script = p:get_bash_complete()
  local at = script:find(PROFILE_FILES, 1, true)
  if at then script = script:sub(1, at - 1) .. PROFILE_NAMES .. script:sub(at + #PROFILE_FILES) end
  return script
end

return {
  name = "completion",
  summary = "print the shell completion script (bash or zsh)",
  description = "bash: `source <(flexiroam completion bash)`, or save it in " ..
    "/etc/bash_completion.d/flexiroam. zsh: save it as _flexiroam in a directory of $fpath.",
  arguments = { { "shell", choices = { "bash", "zsh" }, description = "bash or zsh" } },
  examples = { "source <(flexiroam completion bash)" },
  run = function(ctx, args)
    ctx.write(args.shell == "bash" and bash(ctx.parser) or ctx.parser:get_zsh_complete())
  end,
}
