#!/usr/bin/env python3
"""Checks that a commit (a clang-format run) changed only the layout of the C++ files.

Each changed .cpp/.h before and after the commit, with comments removed, adjacent string
literals joined and every whitespace character outside string and character literals
removed, must be identical: then the compiler sees the same tokens.

    python3 scripts/layout_only.py ba8789e        # exit 1 and the first difference otherwise
"""
import subprocess, sys
def show(rev, f):
    return subprocess.check_output(['git','show',f'{rev}:{f}']).decode()
def normalise(src):
    out=[]; i=0; n=len(src)
    while i<n:
        c=src[i]
        if src.startswith('//',i):
            j=src.find('\n',i); i = n if j<0 else j; continue
        if src.startswith('/*',i):
            j=src.find('*/',i+2); i = n if j<0 else j+2; continue
        if src.startswith('R"',i) and (i==0 or not (src[i-1].isalnum() or src[i-1]=='_')):
            d_end=src.find('(',i+2); delim=src[i+2:d_end]; close=')'+delim+'"'
            j=src.find(close,d_end); out.append(src[i:j+len(close)]); i=j+len(close); continue
        if c in '"\'':
            j=i+1
            while j<n and src[j]!=c:
                j+= 2 if src[j]=='\\' else 1
            lit=src[i:j+1]
            # join adjacent string literals: "a" "b" == "ab"
            if c=='"' and out and out[-1].startswith('"') and out[-1].endswith('"'):
                out[-1]=out[-1][:-1]+lit[1:]
            else:
                out.append(lit)
            i=j+1; continue
        if c.isspace(): i+=1; continue
        out.append(c); i+=1
    return ''.join(out)
rev = sys.argv[1] if len(sys.argv) > 1 else 'HEAD'
files = subprocess.check_output(['git','diff','--name-only',rev+'~1',rev]).decode().split()
bad=0
for f in files:
    if not (f.endswith('.cpp') or f.endswith('.h')): continue
    a=normalise(show(rev+'~1',f)); b=normalise(show(rev,f))
    if a!=b:
        bad+=1
        k=next(i for i in range(min(len(a),len(b))) if a[i]!=b[i]) if a[:min(len(a),len(b))]!=b[:min(len(a),len(b))] else min(len(a),len(b))
        print('DIFF', f, repr(a[k-60:k+60]), '|||', repr(b[k-60:k+60]))
print(len(files),'files,',bad,'with a non-layout change')
sys.exit(1 if bad else 0)
