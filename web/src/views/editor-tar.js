// A minimal writer of uncompressed POSIX ustar archives, for "Save as test
// case": a browser downloads files, not folders, and `tar xf CASE.tar`
// gives back the folder that `iomt test` reads. Regular files only (tar
// creates the folders of the paths); names up to 100 bytes.

const encoder = new TextEncoder();

// Writes `text` into `block` at `offset`, at most `length` bytes.
function put(block, offset, length, text) {
  const bytes = encoder.encode(text);
  if (bytes.length > length) throw new Error(`tar: "${text}" is longer than ${length} bytes`);
  block.set(bytes, offset);
}

// An octal number, zero-padded to length - 1 digits and NUL-terminated.
function octal(value, length) {
  return value.toString(8).padStart(length - 1, '0') + '\0';
}

function header(name, size, mtime) {
  const block = new Uint8Array(512);
  put(block, 0, 100, name);
  put(block, 100, 8, octal(0o644, 8)); // mode
  put(block, 108, 8, octal(0, 8)); // uid
  put(block, 116, 8, octal(0, 8)); // gid
  put(block, 124, 12, octal(size, 12));
  put(block, 136, 12, octal(mtime, 12));
  put(block, 148, 8, '        '); // the checksum counts its own field as spaces
  put(block, 156, 1, '0'); // a regular file
  put(block, 257, 6, 'ustar\0');
  put(block, 263, 2, '00');
  let sum = 0;
  for (const b of block) sum += b;
  put(block, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return block;
}

// files: [{name, text}] → the archive's bytes.
export function tarArchive(files, mtime = Math.floor(Date.now() / 1000)) {
  const parts = [];
  for (const { name, text } of files) {
    const data = encoder.encode(text);
    parts.push(header(name, data.length, mtime), data);
    const pad = (512 - (data.length % 512)) % 512;
    if (pad) parts.push(new Uint8Array(pad));
  }
  parts.push(new Uint8Array(1024)); // two zero blocks end the archive
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
