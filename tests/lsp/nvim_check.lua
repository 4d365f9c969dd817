-- Drives headless Neovim 0.11 against `phx lsp` through the setup in
-- editors/neovim/phx.lua, and writes what the editor saw as JSON.
-- Usage: nvim --headless --clean -l nvim_check.lua OUT.json PHX_BIN FILE REPO
local out_path, phx_bin, file, repo = arg[1], arg[2], arg[3], arg[4]
vim.g.phx_bin = phx_bin
vim.cmd("filetype on")
dofile(repo .. "/editors/neovim/phx.lua")
vim.cmd.edit(file)
local buf = vim.api.nvim_get_current_buf()
local results = { filetype = vim.bo[buf].filetype }

local function done(key, value)
  results[key] = value
end

vim.wait(15000, function() return #vim.lsp.get_clients({ bufnr = buf }) > 0 end, 20)
local client = vim.lsp.get_clients({ bufnr = buf })[1]
if not client then
  done("error", "the phx client did not attach")
  vim.fn.writefile({ vim.json.encode(results) }, out_path)
  vim.cmd("qall!")
end
vim.wait(15000, function() return client.initialized end, 20)
done("encoding", client.offset_encoding)
vim.wait(15000, function() return #vim.diagnostic.get(buf) > 0 end, 20)
local codes = {}
for _, d in ipairs(vim.diagnostic.get(buf)) do
  table.insert(codes, d.code)
end
done("diagnostic_codes", codes)

local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
local function pos(needle, delta)
  for i, l in ipairs(lines) do
    local s = l:find(needle, 1, true)
    if s then return { line = i - 1, character = s - 1 + (delta or 0) } end
  end
end
local doc = { uri = vim.uri_from_bufnr(buf) }
local function req(method, params)
  local r = client:request_sync(method, params, 10000, buf)
  return r and r.result
end

local hover = req("textDocument/hover", { textDocument = doc, position = pos("orbital(") })
done("hover", hover and hover.contents.value or vim.NIL)

local comp = req("textDocument/completion", { textDocument = doc, position = pos("grid = grid", 0) })
local labels = {}
for _, it in ipairs((comp and (comp.items or comp)) or {}) do table.insert(labels, it.label) end
done("completion_labels", labels)

local def = req("textDocument/definition", { textDocument = doc, position = pos("field = density.density", 8) })
if def and def[1] then def = def[1] end
done("definition", def and { uri = def.uri, line = def.range.start.line } or vim.NIL)
done("density_line", pos("node density").line)

local tokens = req("textDocument/semanticTokens/full", { textDocument = doc })
done("semantic_token_count", tokens and #tokens.data / 5 or 0)

-- Rename through the editor: apply the workspace edit to the buffer.
local edit = req("textDocument/rename", { textDocument = doc, position = pos("param extent", 6), newName = "box" })
if edit then vim.lsp.util.apply_workspace_edit(edit, client.offset_encoding) end
local text = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n")
local _, uses = text:gsub("box", "")
done("renamed_uses", uses)
done("extent_left", select(2, text:gsub("extent = extent", "")))

-- Formatting through the editor: mess the buffer up, format it.
vim.api.nvim_buf_set_lines(buf, 0, -1, false, { "param   grid:Int=96", "node d=quantum.orbital(n=2,l=1,m=0,grid=grid){emit=[static]}" })
vim.wait(200)
vim.lsp.buf.format({ bufnr = buf, timeout_ms = 10000 })
done("formatted", table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n"))

vim.fn.writefile({ vim.json.encode(results) }, out_path)
vim.cmd("qall!")
