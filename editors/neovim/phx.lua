-- phx for Neovim 0.11+: filetype detection and the language server.
-- Put this file in your config (e.g. ~/.config/nvim/plugin/phx.lua), or
-- `dofile` it. Set `vim.g.phx_bin` if `phx` is not on your PATH.
vim.filetype.add({ extension = { phx = "phx" } })

vim.api.nvim_create_autocmd("FileType", {
  pattern = "phx",
  callback = function(args)
    vim.bo[args.buf].commentstring = "// %s"
    vim.lsp.start({
      name = "phx",
      cmd = { vim.g.phx_bin or "phx", "lsp" },
      root_dir = vim.fs.root(args.buf, { "phx.toml", ".git" }) or vim.fs.dirname(vim.api.nvim_buf_get_name(args.buf)),
    }, { bufnr = args.buf })
  end,
})
